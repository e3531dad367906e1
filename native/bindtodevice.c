/*
 * setsockopt(SO_BINDTODEVICE) for a Node.js dgram socket: the DHCP server answers on one interface only,
 * whatever other networks the box is on. Node has no API for it; this is the whole addon.
 */
#include <node_api.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <net/if.h>

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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "bindToDevice", NAPI_AUTO_LENGTH, bind_to_device, NULL, &fn);
  napi_set_named_property(env, exports, "bindToDevice", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
