/*
 * getsockopt(SO_ORIGINAL_DST) for Node.js, through Node-API.
 *
 * When iptables REDIRECTs a connection (Istio's ISTIO_REDIRECT chain sends outbound TCP to 15001),
 * the accepted socket's local address is the proxy's own; the address the client dialled is kept by
 * conntrack and read back with getsockopt(SOL_IP, SO_ORIGINAL_DST) for IPv4 and
 * getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST) for IPv6 — the calls Envoy's
 * envoy.filters.listener.original_dst makes. Node has no binding for either, hence this file.
 *
 * Exported: originalDst(fd) -> { address, port } on success, or a negative errno number on failure
 * (the TypeScript wrapper decides which errors mean "no original destination" and which are bugs).
 */
#include <node_api.h>

#include <errno.h>
#include <string.h>

#ifndef SPAR_NO_ORIGINAL_DST
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; defined here because those
 * kernel headers clash with glibc's <netinet/in.h>. Both are 80. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#endif

#define CHECK(env, call)                                               \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error((env), "SPAR_NATIVE", "Node-API call failed: " #call); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

static napi_value make_errno(napi_env env, int err) {
  napi_value v;
  if (napi_create_int32(env, -err, &v) != napi_ok) return NULL;
  return v;
}

#ifndef SPAR_NO_ORIGINAL_DST
static napi_value make_result(napi_env env, const char *address, unsigned port) {
  napi_value obj, addr, p;
  CHECK(env, napi_create_object(env, &obj));
  CHECK(env, napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr));
  CHECK(env, napi_create_uint32(env, port, &p));
  CHECK(env, napi_set_named_property(env, obj, "address", addr));
  CHECK(env, napi_set_named_property(env, obj, "port", p));
  return obj;
}

/* IPv4: SOL_IP/SO_ORIGINAL_DST fills a sockaddr_in. */
static int original_dst_v4(int fd, char *out, size_t out_len, unsigned *port) {
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  memset(&sin, 0, sizeof(sin));
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &sin, &len) != 0) return errno;
  if (sin.sin_family != AF_INET) return EAFNOSUPPORT;
  if (inet_ntop(AF_INET, &sin.sin_addr, out, (socklen_t)out_len) == NULL) return errno;
  *port = ntohs(sin.sin_port);
  return 0;
}

/* IPv6: SOL_IPV6/IP6T_SO_ORIGINAL_DST fills a sockaddr_in6. */
static int original_dst_v6(int fd, char *out, size_t out_len, unsigned *port) {
  struct sockaddr_in6 sin6;
  socklen_t len = sizeof(sin6);
  memset(&sin6, 0, sizeof(sin6));
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &sin6, &len) != 0) return errno;
  if (sin6.sin6_family != AF_INET6) return EAFNOSUPPORT;
  if (inet_ntop(AF_INET6, &sin6.sin6_addr, out, (socklen_t)out_len) == NULL) return errno;
  *port = ntohs(sin6.sin6_port);
  return 0;
}
#endif

static napi_value OriginalDst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "SPAR_NATIVE", "originalDst(fd): fd must be a non-negative integer");
    return NULL;
  }
#ifdef SPAR_NO_ORIGINAL_DST
  return make_errno(env, ENOSYS);
#else
  /* The socket's own family decides which table to ask, as in Envoy. An AF_INET6 socket can carry
   * IPv4 traffic (a dual-stack listener on ::, peers as ::ffff:a.b.c.d); its conntrack entry is
   * IPv4, so the IPv4 call is tried when the IPv6 one finds nothing. */
  struct sockaddr_storage local;
  socklen_t local_len = sizeof(local);
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return make_errno(env, errno);
  char address[INET6_ADDRSTRLEN];
  unsigned port = 0;
  int err;
  if (local.ss_family == AF_INET) {
    err = original_dst_v4(fd, address, sizeof(address), &port);
  } else if (local.ss_family == AF_INET6) {
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local;
    if (IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr)) {
      err = original_dst_v4(fd, address, sizeof(address), &port);
    } else {
      err = original_dst_v6(fd, address, sizeof(address), &port);
    }
  } else {
    err = EAFNOSUPPORT;
  }
  if (err != 0) return make_errno(env, err);
  return make_result(env, address, port);
#endif
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  CHECK(env, napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, OriginalDst, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "originalDst", fn));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
