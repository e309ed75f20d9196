#!/usr/bin/python3
"""A copy of the Node binary small enough to carry to a device machine: its ICU data trimmed to English.

Node's official and distribution builds embed ICU's full data package (`icudt<NN>_dat`, ~33 MB of ~100 MB; every
locale's names, formats, collations, calendars and break dictionaries, ~400 converters), which no command of fcnc needs
beyond English number and date formatting. This rewrites the package in place inside the binary, keeping every item
that is not locale-specific and, of the locale-specific ones, the root and English locales (`root`, `en`, `en_US`,
`en_US_POSIX`, `en_001`); legacy code-page converters (`*.cnv`), break-iterator dictionaries (`brkitr/*.dict`) and
transliteration rules go. Another locale then falls back to root (Intl still works, only in English). The rest of the
old package's bytes become zeros, so the binary compresses to ~14 MB with xz instead of ~21 MB; the binary is then
stripped of its debug information.

ICU's common-data format (\"CmnD\"): a data header (its size in the first two bytes), then a table of contents — a
count and (name offset, data offset) pairs relative to the table's start, sorted by name (ICU searches it by
bisection) — then the names, then the items, each aligned to 16 bytes.

Usage: slim_node.py NODE OUT   (NODE must have its symbol table: `nm NODE | grep icudt` finds the package)
"""
import os
import re
import shutil
import struct
import subprocess
import sys

KEEP_LOCALES = {'root', 'en', 'en_US', 'en_US_POSIX', 'en_001'}
LOCALE = re.compile(r'^[a-z]{2,3}(_[A-Za-z0-9]+)*$')


def elf_symbol(data, pattern):
    """(file offset, size) of the first symbol in .symtab whose name matches pattern (ELF64 little-endian)."""
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise SystemExit('not a 64-bit little-endian ELF file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    secs = [struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    symtab = next((s for s in secs if s[1] == 2), None)  # SHT_SYMTAB
    if symtab is None:
        raise SystemExit('the binary has no symbol table (stripped): give an unstripped node')
    strtab = secs[symtab[6]]
    rx = re.compile(pattern)
    for k in range(symtab[5] // 24):
        name_off, info, other, shndx, value, size = struct.unpack_from('<IBBHQQ', data, symtab[4] + k * 24)
        end = data.index(b'\0', strtab[4] + name_off)
        name = data[strtab[4] + name_off:end].decode('ascii', 'replace')
        if rx.fullmatch(name) and 0 < shndx < len(secs):
            sec = secs[shndx]
            return name, value - sec[3] + sec[4], size
    raise SystemExit('no symbol matching %s' % pattern)


def keep(name):
    parts = name.split('/')[1:]  # drop the package prefix, icudt78l/
    base, _, ext = parts[-1].rpartition('.')
    tree = parts[0] if len(parts) > 1 else ''
    if ext == 'cnv' or (tree == 'brkitr' and ext == 'dict') or tree == 'translit':
        return False
    if ext == 'res' and LOCALE.match(base):
        return base in KEEP_LOCALES
    return True


def trim(pkg):
    hs, = struct.unpack_from('<H', pkg, 0)
    if pkg[2:4] != b'\xda\x27' or pkg[12:16] != b'CmnD':
        raise SystemExit('not an ICU common data package')
    n, = struct.unpack_from('<I', pkg, hs)
    toc = [struct.unpack_from('<II', pkg, hs + 4 + 8 * i) for i in range(n)]
    items = []
    for i, (no, do) in enumerate(toc):
        name = pkg[hs + no:pkg.index(b'\0', hs + no)].decode('ascii')
        end = toc[i + 1][1] if i + 1 < n else len(pkg) - hs
        items.append((name, pkg[hs + do:hs + end]))
    kept = [(nm, d) for nm, d in items if keep(nm)]
    names = b''.join(nm.encode('ascii') + b'\0' for nm, _ in kept)
    m = len(kept)
    names_at = 4 + 8 * m
    data_at = names_at + len(names)
    data_at += -data_at % 16  # the items start 16-aligned (relative to the table, which starts 16-aligned)
    entries, blobs, pos, name_pos = [], [], data_at, names_at
    for nm, d in kept:
        entries.append(struct.pack('<II', name_pos, pos))
        name_pos += len(nm) + 1
        pad = -len(d) % 16
        blobs.append(d + b'\0' * pad)
        pos += len(d) + pad
    body = struct.pack('<I', m) + b''.join(entries) + names
    body += b'\0' * (data_at - len(body)) + b''.join(blobs)
    return pkg[:hs] + body, n, m


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split('Usage: ')[1])
    src, out = sys.argv[1], sys.argv[2]
    data = bytearray(open(src, 'rb').read())
    name, off, size = elf_symbol(data, r'icudt\d+_dat')
    new, n, m = trim(bytes(data[off:off + size]))
    if len(new) > size:
        raise SystemExit('the trimmed package is larger than the original')
    data[off:off + size] = new + bytes(size - len(new))
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    if shutil.which('strip'):
        subprocess.run(['strip', tmp], check=True)
    os.replace(tmp, out)
    print('%s: %s %d -> %d bytes (%d of %d items), binary %d bytes'
          % (out, name, size, len(new), m, n, os.path.getsize(out)))


if __name__ == '__main__':
    main()
