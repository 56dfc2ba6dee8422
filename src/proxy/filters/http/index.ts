/** Loads every HTTP filter so each registers itself (one import per filter folder). */
import './fault/fault.js';
import './cors/cors.js';
import './local_ratelimit/local-ratelimit.js';
import './ratelimit/ratelimit.js';
import './istio_stats/istio-stats.js';
