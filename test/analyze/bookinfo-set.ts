/** The Bookinfo files the analyze tests start from (Istio's sample, unchanged). */
import { join } from 'node:path';
import { samplesDir } from '../helpers/shared.js';

const bookinfo = join(samplesDir, 'bookinfo');

/** The set the README calls clean: the app, its gateway, every DestinationRule, all traffic to v1. */
export const BOOKINFO = [
  join(bookinfo, 'platform/kube/bookinfo.yaml'),
  join(bookinfo, 'networking/bookinfo-gateway.yaml'),
  join(bookinfo, 'networking/destination-rule-all.yaml'),
  join(bookinfo, 'networking/virtual-service-all-v1.yaml'),
];
/** The optional ratings workloads that destination-rule-all.yaml has subsets for. */
export const MYSQL_WORKLOADS = [join(bookinfo, 'platform/kube/bookinfo-ratings-v2-mysql.yaml'), join(bookinfo, 'platform/kube/bookinfo-ratings-v2-mysql-vm.yaml')];

