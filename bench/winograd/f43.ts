// A prototype of Winograd F(4×4, 3×3) for bench/winograd.bench.ts — not part of the compiler, like F(2×2, 3×3) in
// prototype.ts: weight transform, input transform, the 36 GEMMs as one grouped 1×1 conv with fcnc's own GEMM kernel,
// output transform; stride 1, padding 1, no bias or epilogue, batch 1, maps whose side is a multiple of 16 and
// channels in fours. Lavin & Gray's matrices (B^T 6×6, G 6×3, A^T 4×6); the transforms are generated from them,
// unrolled, skipping zero terms. Both transforms run four horizontally adjacent tiles per invocation, one per vec4
// lane, so that their loads and stores are vec4s.
import { combo, WINOGRAD } from '../../compiler/codegen/wgsl/winograd.ts';
import { winogradPrototype, type WinogradPrototype } from './prototype.ts';

// The matrices and the term generator are the compiler's (compiler/codegen/wgsl/winograd.ts), which builds this
// transform into its plans since; the prototype stays to compare against (`npm run bench:winograd`).
const { BT, G, AT } = WINOGRAD[4]!;

/** F(4×4, 3×3): maps a multiple of 16. */
export const winogradF43: WinogradPrototype = winogradPrototype(
  4,
  ({ cin, cout, TH, TW, inputHead, outputHead, weightsHead }) => {
    // 1. Weight transform: U[ξ][co][ci] = (G g G^T)[i][j], ξ = 6i + j; one invocation per (co, 4 input channels).
    const L1: string[] = [];
    for (let t = 0; t < 9; t++) L1.push(`  let g${t} = w[(co * 9u + ${t}u) * CIN4 + c4];`);
    for (let i = 0; i < 6; i++)
      for (let c = 0; c < 3; c++) L1.push(`  let a${i}_${c} = ${combo(G[i]!, (r) => `g${3 * r + c}`)};`);
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++)
        L1.push(`  u[(${6 * i + j}u * COUT + co) * CIN4 + c4] = ${combo(G[j]!, (c) => `a${i}_${c}`)};`);
    const weights = `${weightsHead}
${L1.join('\n')}
}`;
    // 2. Input transform: V[ξ][ci][t] = (B^T d B)[i][j]; one invocation per (ci, tile row, 4 adjacent tiles), the
    // tiles in the vec4 lanes. Tiles tx0..tx0+3 (tx0 = 4·q4) read input columns 16·q4 − 1 .. 16·q4 + 16: the vec4s
    // 4·q4 − 1 .. 4·q4 + 4; window column j of lane k is column 16·q4 − 1 + 4k + j: lane (3 + j) % 4 of vec4
    // 4·q4 − 1 + ⌊(3 + j) / 4⌋ + k.
    const L2: string[] = [];
    const lanes = ['x', 'y', 'z', 'w'];
    for (let i = 0; i < 6; i++) {
      L2.push(`  let r${i} = i32(4u * ty + ${i}u) - 1i;`);
      for (let m = 0; m < 6; m++) L2.push(`  let v${i}_${m} = ld(c, r${i}, 4i * i32(q4) - 1i + ${m}i);`);
      for (let j = 0; j < 6; j++) {
        const q = Math.floor((3 + j) / 4);
        const l = lanes[(3 + j) % 4];
        L2.push(
          `  let d${i}_${j} = vec4f(v${i}_${q}.${l}, v${i}_${q + 1}.${l}, v${i}_${q + 2}.${l}, v${i}_${q + 3}.${l});`,
        );
      }
    }
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++) L2.push(`  let b${i}_${j} = ${combo(BT[i]!, (r) => `d${r}_${j}`)};`);
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 6; j++)
        L2.push(`  v[(${6 * i + j}u * CIN + c) * T4 + t4] = ${combo(BT[j]!, (c) => `b${i}_${c}`)};`);
    const input = `${inputHead}
${L2.join('\n')}
}`;
    // 4. Output transform: y = A^T m A; one invocation per (co, tile row, 4 adjacent tiles), the tiles in the lanes.
    const L4: string[] = [];
    for (let k = 0; k < 36; k++) L4.push(`  let m${k} = m[(${k}u * COUT + co) * T4 + t4];`);
    for (let a = 0; a < 4; a++)
      for (let j = 0; j < 6; j++) L4.push(`  let s${a}_${j} = ${combo(AT[a]!, (i) => `m${6 * i + j}`)};`);
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) L4.push(`  let y${a}_${b} = ${combo(AT[b]!, (j) => `s${a}_${j}`)};`);
      // Row 4·ty + a: tile k's 4 pixels (columns 4(tx0 + k) + b) are lane k of y{a}_{b}: one vec4 per tile.
      for (let k = 0; k < 4; k++)
        L4.push(
          `  y[(co * H + 4u * ty + ${a}u) * W4 + 4u * q4 + ${k}u] = vec4f(y${a}_0.${lanes[k]}, y${a}_1.${lanes[k]}, y${a}_2.${lanes[k]}, y${a}_3.${lanes[k]});`,
        );
    }
    const output = `${outputHead}
${L4.join('\n')}
}`;
    return {
      weights: { code: weights, items: (cout * cin) / 4 },
      input: { code: input, items: (cin * TH * TW) / 4 },
      output: { code: output, items: (cout * TH * TW) / 4 },
    };
  },
);
