/**
 * envoy.filters.http.cors with no policies: Istio puts this filter on every chain; CORS policies
 * themselves travel on routes (typed_per_filter_config CorsPolicy), which Spar does not support yet
 * and rejects by name. With no policy the filter does nothing, in Envoy and here.
 */
import { registerHttpFilter } from '../registry.js';

registerHttpFilter('envoy.extensions.filters.http.cors.v3.Cors', (cfg) => {
  cfg.done();
  return {};
});
