// The bundle's entry: run one command and exit (Dawn keeps the event loop alive otherwise).
import { main } from './main';

const code = await main(process.argv.slice(2));
process.exit(code);
