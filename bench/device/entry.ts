// The `fcnc` command as one bundled file for machines without npm (bench/device.sh): the CLI of
// compiler/cli/main.ts, run directly (no tsx, no child process for Dawn's stderr noise). One extra command,
// `table2-specs`, prints the specs of the paper's Table 2 (runtime/bench.ts TABLE2_SPECS), one per line.
import { main } from '../../compiler/cli/main.ts';
import { TABLE2_SPECS } from '../../runtime/bench.ts';

const args = process.argv.slice(2);
if (args[0] === 'table2-specs') {
  console.log(TABLE2_SPECS.join('\n'));
} else {
  process.exitCode = await main(args);
}
