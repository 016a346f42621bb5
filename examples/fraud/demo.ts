// The demo that `rivulet start --demo` runs: the fraud pipeline fed by a payment generator.
import { fraudPipeline } from './pipeline.js';

export default fraudPipeline({ generator: { ratePerSecond: 300 } });
