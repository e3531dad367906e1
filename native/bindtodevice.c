/*
 * setsockopt(SO_BINDTODEVICE) for a Node.js dgram socket: the DHCP server answers on one interface only,
 * whatever other networks the box is on. Node has no API for it; this is the whole addon.
 */
#include <node_api.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <unistd.h>

static napi_value bind_to_device(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "bindToDevice(fd, ifname)");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "fd must be a number");
    return NULL;
  }
  char ifname[IFNAMSIZ + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, argv[1], ifname, sizeof ifname, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "ifname must be an interface name of 1 to 15 characters");
    return NULL;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)len + 1) != 0) {
    char message[128];
    strerror_r(errno, message, sizeof message);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  return NULL;
}

/*
 * setArp(ifname, ip, mac6): a complete ARP entry, so that a DHCP reply can be unicast to an address its client
 * does not answer ARP for yet (RFC 2131 4.1; dnsmasq does the same with SIOCSARP). Needs CAP_NET_ADMIN.
 */
static napi_value set_arp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ifname[IFNAMSIZ + 1];
  char ip[64];
  size_t len = 0, iplen = 0;
  void *mac = NULL;
  size_t maclen = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], ifname, sizeof ifname, &len) != napi_ok || len == 0 || len >= IFNAMSIZ ||
      napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &iplen) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &mac, &maclen) != napi_ok || maclen != 6) {
    napi_throw_type_error(env, NULL, "setArp(ifname, ipv4, mac: 6-byte Buffer)");
    return NULL;
  }
  struct arpreq req;
  memset(&req, 0, sizeof req);
  struct sockaddr_in *pa = (struct sockaddr_in *)&req.arp_pa;
  pa->sin_family = AF_INET;
  if (inet_pton(AF_INET, ip, &pa->sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "not an IPv4 address");
    return NULL;
  }
  req.arp_ha.sa_family = ARPHRD_ETHER;
  memcpy(req.arp_ha.sa_data, mac, 6);
  req.arp_flags = ATF_COM;
  memcpy(req.arp_dev, ifname, len);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || ioctl(fd, SIOCSARP, &req) != 0) {
    char message[128];
    strerror_r(errno, message, sizeof message);
    if (fd >= 0) close(fd);
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  close(fd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "bindToDevice", NAPI_AUTO_LENGTH, bind_to_device, NULL, &fn);
  napi_set_named_property(env, exports, "bindToDevice", fn);
  napi_create_function(env, "setArp", NAPI_AUTO_LENGTH, set_arp, NULL, &fn);
  napi_set_named_property(env, exports, "setArp", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
