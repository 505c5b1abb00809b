/**
 * The `ditto` process for the eval/demo tests: cli/main.ts's main, spawned with tsx exactly like
 * bin/ditto.js runs the sources in a checkout.
 */
import { main } from '../../cli/main.ts';

process.exitCode = await main(process.argv);
