/*
 * newtos TAP addon: the few system calls Node cannot make itself.
 *
 * It only opens /dev/net/tun as a TAP device (TUNSETIFF), sets offloads, and
 * moves whole frames between the device and caller-provided memory (a Uint8Array,
 * usually over a SharedArrayBuffer packet pool): one read(2)/write(2) per frame,
 * many frames per call, no copies through JavaScript. poll(2) lets a driver
 * worker block on the device instead of spinning. All frame handling (parsing,
 * virtio-net headers, counters by reason) stays in TypeScript.
 *
 * Exports (all synchronous; errors throw an Error whose `code` is the errno name):
 *   open(name, flags)                         -> { fd, name }
 *       flags: bit 0 IFF_VNET_HDR, bit 1 IFF_MULTI_QUEUE
 *   close(fd)
 *   setOffload(fd, tunFlags)                  TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 ...)
 *   setVnetHdrSize(fd, size)                  TUNSETVNETHDRSZ
 *   readBatch(fd, memory, offsets, capacity, lengths, max, stats[, headers, hdrLen]) -> frames stored
 *   writeBatch(fd, memory, offsets, lengths, count, stats[, headers, hdrLen])        -> frames consumed
 *       With IFF_VNET_HDR, `headers` (a Uint8Array of at least n * hdrLen bytes)
 *       holds frame i's virtio-net header at i * hdrLen; readv/writev put it
 *       there and the frame itself in the slot, so lengths never include it.
 *   wait(fd, events, timeoutMs[, fd2])        -> revents (0 on timeout or EINTR)
 *       events/revents: 1 readable, 2 writable, 4 error/hangup
 *       With fd2 (same events), fd2's revents are shifted left by 8: one
 *       thread can block on two devices (the `newtos impair` bridge), or on
 *       its device and an eventfd that other threads write to wake it.
 *   eventfd()                                 -> fd (non-blocking, close-on-exec)
 *       A counter any thread wakes a wait() on by writing 8 bytes (Node's
 *       fs.writeSync does); the waiter reads it back to zero (fs.readSync).
 *
 * Every fd open() returns belongs to the calling thread's environment (each
 * worker loads its own instance): when that environment is torn down, for a
 * thread that ended, crashed or was terminated as much as for the process, the
 * fds it did not close() are closed. A TAP device is held by its fd, so without
 * this a crashed driver thread kept its device busy (EBUSY for its successor)
 * until the process exited.
 *
 * readBatch fills slot i (memory[offsets[i] .. offsets[i]+capacity)) with one frame
 * and lengths[i] with its length, stopping at EAGAIN or `max`. A frame larger than
 * `capacity` is dropped (stats[0]++) and its slot reused. Other read errors stop
 * the batch (stats[1]++, stats[2] = errno).
 * writeBatch writes frames 0..count-1 and returns how many it consumed; it stops
 * early only at EAGAIN (the caller keeps the rest). A frame the kernel refuses
 * (EINVAL, EIO when the link is down) is consumed and counted (stats[1]++,
 * stats[2] = errno); stats[3] += bytes the kernel accepted. stats is a
 * Uint32Array of at least 4 entries.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    if ((call) != napi_ok) {                                                 \
      napi_throw_error(env, "ERR_TAP_ADDON", "N-API call failed: " #call);   \
      return NULL;                                                           \
    }                                                                        \
  } while (0)

/* The fds opened in one environment and not closed yet (see the file comment). */
#define MAX_OPEN_FDS 64
struct env_fds {
  int fds[MAX_OPEN_FDS];
  int count;
};

static void remember_fd(struct env_fds *st, int fd) {
  if (st != NULL && st->count < MAX_OPEN_FDS) st->fds[st->count++] = fd;
}

/* True if the fd was one this environment opened (and forgets it). */
static int forget_fd(struct env_fds *st, int fd) {
  if (st == NULL) return 0;
  for (int i = 0; i < st->count; i++) {
    if (st->fds[i] == fd) {
      st->fds[i] = st->fds[--st->count];
      return 1;
    }
  }
  return 0;
}

/* Environment teardown: close what the thread left open (no JS runs after this). */
static void close_env_fds(void *arg) {
  struct env_fds *st = arg;
  for (int i = 0; i < st->count; i++) close(st->fds[i]);
  free(st);
}

static struct env_fds *env_state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, name != NULL ? name : "EUNKNOWN", msg);
  return NULL;
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* A typed array's bytes and element count; element type must match `want`. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *count) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, count, data, &ab, &off) != napi_ok) return 0;
  return type == want;
}

/* Optional (headers: Uint8Array, hdrLen: 0..64) for IFF_VNET_HDR. */
static int get_vnet_args(napi_env env, napi_value jh, napi_value jl, uint8_t **hdrs, size_t *hdrs_len, int32_t *hdr_len) {
  napi_valuetype t;
  if (napi_typeof(env, jh, &t) == napi_ok && (t == napi_undefined || t == napi_null)) return 1;
  if (!get_typed(env, jh, napi_uint8_array, (void **)hdrs, hdrs_len) || !get_i32(env, jl, hdr_len)
      || *hdr_len < 0 || *hdr_len > 64) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "headers must be a Uint8Array and hdrLen in 0..64");
    return 0;
  }
  return 1;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  size_t name_len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "name must be a string (may be empty)");
    return NULL;
  }
  int32_t flags = 0;
  if (argc >= 2) get_i32(env, argv[1], &flags);

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (flags & 1) ifr.ifr_flags |= IFF_VNET_HDR;
  if (flags & 2) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  memcpy(ifr.ifr_name, name, name_len < IFNAMSIZ - 1 ? name_len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "ioctl TUNSETIFF", err);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "fcntl O_NONBLOCK", err);
  }
  remember_fd(env_state(env), fd);
  napi_value result, jfd, jname;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_int32(env, fd, &jfd));
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  CHECK(napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &jname));
  CHECK(napi_set_named_property(env, result, "fd", jfd));
  CHECK(napi_set_named_property(env, result, "name", jname));
  return result;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i32(env, argv[0], &fd)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd must be a number");
    return NULL;
  }
  forget_fd(env_state(env), fd);
  if (close(fd) < 0) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value ioctl_int(napi_env env, napi_callback_info info, unsigned long req, const char *what) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd, value;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &value)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fd and value must be numbers");
    return NULL;
  }
  /* TUNSETOFFLOAD takes the flags by value; TUNSETVNETHDRSZ by pointer. */
  int rc = req == TUNSETOFFLOAD ? ioctl(fd, req, (unsigned long)(uint32_t)value) : ioctl(fd, req, &value);
  if (rc < 0) return throw_errno(env, what, errno);
  return NULL;
}

static napi_value js_set_offload(napi_env env, napi_callback_info info) {
  return ioctl_int(env, info, TUNSETOFFLOAD, "ioctl TUNSETOFFLOAD");
}

static napi_value js_set_vnet_hdr_size(napi_env env, napi_callback_info info) {
  return ioctl_int(env, info, TUNSETVNETHDRSZ, "ioctl TUNSETVNETHDRSZ");
}

/* readBatch(fd, memory: Uint8Array, offsets: Uint32Array, capacity, lengths: Uint32Array, max, stats: Uint32Array) */
static napi_value js_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, capacity, max, hdr_len = 0;
  uint8_t *hdrs = NULL;
  size_t hdrs_len = 0;
  uint8_t *mem;
  uint32_t *offsets, *lengths, *stats;
  size_t mem_len, n_offsets, n_lengths, n_stats;
  if (argc < 7 || !get_i32(env, argv[0], &fd)
      || !get_typed(env, argv[1], napi_uint8_array, (void **)&mem, &mem_len)
      || !get_typed(env, argv[2], napi_uint32_array, (void **)&offsets, &n_offsets)
      || !get_i32(env, argv[3], &capacity)
      || !get_typed(env, argv[4], napi_uint32_array, (void **)&lengths, &n_lengths)
      || !get_i32(env, argv[5], &max)
      || !get_typed(env, argv[6], napi_uint32_array, (void **)&stats, &n_stats) || n_stats < 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
        "readBatch(fd, Uint8Array, Uint32Array, capacity, Uint32Array, max, Uint32Array[3])");
    return NULL;
  }
  if (capacity <= 0 || max < 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "capacity must be > 0 and max >= 0");
    return NULL;
  }
  if (argc >= 9 && !get_vnet_args(env, argv[7], argv[8], &hdrs, &hdrs_len, &hdr_len)) return NULL;
  size_t limit = (size_t)max;
  if (limit > n_offsets) limit = n_offsets;
  if (limit > n_lengths) limit = n_lengths;
  if (hdr_len > 0 && limit > hdrs_len / (size_t)hdr_len) limit = hdrs_len / (size_t)hdr_len;
  for (size_t i = 0; i < limit; i++) {
    if ((size_t)offsets[i] + (size_t)capacity > mem_len) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "a slot lies outside the memory view");
      return NULL;
    }
  }
  size_t count = 0;
  while (count < limit) {
    /* A scratch byte after the slot: an oversized frame then reads as
       capacity + 1 (or more, as tun reports the whole frame's length)
       instead of looking like a frame that exactly fills the slot. */
    uint8_t spare;
    struct iovec iov[3] = {
      { hdrs + count * (size_t)hdr_len, (size_t)hdr_len },
      { mem + offsets[count], (size_t)capacity },
      { &spare, 1 },
    };
    ssize_t n = hdr_len > 0 ? readv(fd, iov, 3) : readv(fd, iov + 1, 2);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      stats[1]++;
      stats[2] = (uint32_t)errno;
      break;
    }
    n -= hdr_len;
    if (n < 0 || n > capacity) {
      stats[0]++;
      continue; /* dropped: slot reused for the next frame */
    }
    lengths[count++] = (uint32_t)n;
  }
  napi_value result;
  CHECK(napi_create_uint32(env, (uint32_t)count, &result));
  return result;
}

/* writeBatch(fd, memory: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count, stats: Uint32Array) */
static napi_value js_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, count, hdr_len = 0;
  uint8_t *hdrs = NULL;
  size_t hdrs_len = 0;
  uint8_t *mem;
  uint32_t *offsets, *lengths, *stats;
  size_t mem_len, n_offsets, n_lengths, n_stats;
  if (argc < 6 || !get_i32(env, argv[0], &fd)
      || !get_typed(env, argv[1], napi_uint8_array, (void **)&mem, &mem_len)
      || !get_typed(env, argv[2], napi_uint32_array, (void **)&offsets, &n_offsets)
      || !get_typed(env, argv[3], napi_uint32_array, (void **)&lengths, &n_lengths)
      || !get_i32(env, argv[4], &count)
      || !get_typed(env, argv[5], napi_uint32_array, (void **)&stats, &n_stats) || n_stats < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
        "writeBatch(fd, Uint8Array, Uint32Array, Uint32Array, count, Uint32Array[4])");
    return NULL;
  }
  if (argc >= 8 && !get_vnet_args(env, argv[6], argv[7], &hdrs, &hdrs_len, &hdr_len)) return NULL;
  size_t limit = count < 0 ? 0 : (size_t)count;
  if (limit > n_offsets) limit = n_offsets;
  if (limit > n_lengths) limit = n_lengths;
  if (hdr_len > 0 && limit > hdrs_len / (size_t)hdr_len) limit = hdrs_len / (size_t)hdr_len;
  for (size_t i = 0; i < limit; i++) {
    if ((size_t)offsets[i] + (size_t)lengths[i] > mem_len) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "a frame lies outside the memory view");
      return NULL;
    }
  }
  size_t done = 0;
  while (done < limit) {
    struct iovec iov[2] = {
      { hdrs + done * (size_t)hdr_len, (size_t)hdr_len },
      { mem + offsets[done], lengths[done] },
    };
    ssize_t n = hdr_len > 0 ? writev(fd, iov, 2) : write(fd, mem + offsets[done], lengths[done]);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      stats[1]++;
      stats[2] = (uint32_t)errno;
    } else {
      stats[3] += (uint32_t)(n - hdr_len);
    }
    done++;
  }
  napi_value result;
  CHECK(napi_create_uint32(env, (uint32_t)done, &result));
  return result;
}

/* wait(fd, events, timeoutMs[, fd2]) -> revents (fd2's << 8) */
static uint32_t revents_bits(short revents) {
  uint32_t out = 0;
  if (revents & POLLIN) out |= 1;
  if (revents & POLLOUT) out |= 2;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) out |= 4;
  return out;
}

static napi_value js_wait(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd, events, timeout, fd2 = -1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || !get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &events) || !get_i32(env, argv[2], &timeout)
      || (argc >= 4 && !get_i32(env, argv[3], &fd2))) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "wait(fd, events, timeoutMs[, fd2])");
    return NULL;
  }
  short ev = 0;
  if (events & 1) ev |= POLLIN;
  if (events & 2) ev |= POLLOUT;
  struct pollfd p[2] = { { .fd = fd, .events = ev, .revents = 0 }, { .fd = fd2, .events = ev, .revents = 0 } };
  int rc = poll(p, fd2 >= 0 ? 2 : 1, timeout);
  uint32_t out = 0;
  if (rc < 0 && errno != EINTR) return throw_errno(env, "poll", errno);
  if (rc > 0) out = revents_bits(p[0].revents) | (fd2 >= 0 ? revents_bits(p[1].revents) << 8 : 0);
  napi_value result;
  CHECK(napi_create_uint32(env, out, &result));
  return result;
}

/* eventfd() -> fd, remembered like a device's (closed with the environment unless close()d). */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "eventfd", errno);
  remember_fd(env_state(env), fd);
  napi_value result;
  CHECK(napi_create_int32(env, fd, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setOffload", NULL, js_set_offload, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setVnetHdrSize", NULL, js_set_vnet_hdr_size, NULL, NULL, NULL, napi_enumerable, NULL },
    { "readBatch", NULL, js_read_batch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "writeBatch", NULL, js_write_batch, NULL, NULL, NULL, napi_enumerable, NULL },
    { "wait", NULL, js_wait, NULL, NULL, NULL, napi_enumerable, NULL },
    { "eventfd", NULL, js_eventfd, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  struct env_fds *st = calloc(1, sizeof *st);
  if (st == NULL) {
    napi_throw_error(env, "ENOMEM", "tap addon: no memory for its per-thread state");
    return NULL;
  }
  if (napi_set_instance_data(env, st, NULL, NULL) != napi_ok
      || napi_add_env_cleanup_hook(env, close_env_fds, st) != napi_ok) {
    free(st);
    napi_throw_error(env, "ERR_TAP_ADDON", "tap addon: cannot register its per-thread state");
    return NULL;
  }
  return exports;
}

NAPI_MODULE_INIT() {
  return init(env, exports);
}
