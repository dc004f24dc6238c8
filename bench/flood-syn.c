/*
 * bench:flood's SYN generator: random-source TCP SYNs written as Ethernet
 * frames into one interface with an AF_PACKET socket (sendmmsg batches).
 * Compiled with cc by bench/flood.ts at bench time; not part of the stack.
 *
 *   flood-syn IFNAME DST_MAC DST_IP DST_PORT SRC_NET SRC_PREFIX RATE SECONDS
 *
 * Sources are random addresses inside SRC_NET/SRC_PREFIX (never the network's
 * first two or last address, which the bench gives to real hosts), random
 * ports and ISNs; every SYN carries an MSS option. RATE 0 = as fast as it goes.
 * The frames leave only through IFNAME (a TAP's or veth's end inside a
 * namespace the bench made). Prints "sent N refused R seconds S" on stdout at the end: N frames
 * the device took, R it refused at once (a full TAP queue); N + R were offered.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define FRAME_LEN (14 + 20 + 24)

static uint64_t rng_state;
static inline uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t sum16(const uint8_t *p, int len, uint32_t s) {
  for (int i = 0; i + 1 < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (len & 1) s += (uint32_t)(p[len - 1] << 8);
  return s;
}

static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static int parse_mac(const char *s, uint8_t *m) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static void build(uint8_t *f, const uint8_t *dmac, const uint8_t *smac, uint32_t src, uint32_t dst, uint16_t sport,
                  uint16_t dport, uint32_t isn) {
  memcpy(f, dmac, 6); memcpy(f + 6, smac, 6); f[12] = 0x08; f[13] = 0x00;
  uint8_t *ip = f + 14;
  memset(ip, 0, 20);
  ip[0] = 0x45; ip[2] = 0; ip[3] = 44; /* total length 20 + 24 */
  ip[4] = (uint8_t)(isn >> 8); ip[5] = (uint8_t)isn; ip[6] = 0x40; /* DF */
  ip[8] = 64; ip[9] = 6;
  memcpy(ip + 12, &src, 4); memcpy(ip + 16, &dst, 4);
  uint16_t ic = fold(sum16(ip, 20, 0));
  ip[10] = (uint8_t)(ic >> 8); ip[11] = (uint8_t)ic;
  uint8_t *t = ip + 20;
  memset(t, 0, 24);
  t[0] = (uint8_t)(sport >> 8); t[1] = (uint8_t)sport; t[2] = (uint8_t)(dport >> 8); t[3] = (uint8_t)dport;
  t[4] = (uint8_t)(isn >> 24); t[5] = (uint8_t)(isn >> 16); t[6] = (uint8_t)(isn >> 8); t[7] = (uint8_t)isn;
  t[12] = 6 << 4; t[13] = 0x02; /* SYN */
  t[14] = 0xfa; t[15] = 0xf0; /* window 64240 */
  t[20] = 2; t[21] = 4; t[22] = 0x05; t[23] = 0xb4; /* MSS 1460 */
  uint32_t ps = sum16(ip + 12, 8, 0) + 6 + 24;
  uint16_t tc = fold(sum16(t, 24, ps));
  t[16] = (uint8_t)(tc >> 8); t[17] = (uint8_t)tc;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s IFNAME DST_MAC DST_IP DST_PORT SRC_NET SRC_PREFIX RATE SECONDS\n", argv[0]);
    return 2;
  }
  uint8_t dmac[6], smac[6] = { 0x02, 0x66, 0x6c, 0x6f, 0x6f, 0x64 };
  struct in_addr dst_in, net_in;
  if (parse_mac(argv[2], dmac) != 0 || inet_pton(AF_INET, argv[3], &dst_in) != 1 || inet_pton(AF_INET, argv[5], &net_in) != 1) {
    fprintf(stderr, "flood-syn: bad MAC or address\n");
    return 2;
  }
  int dport = atoi(argv[4]), prefix = atoi(argv[6]);
  double rate = atof(argv[7]), seconds = atof(argv[8]);
  if (prefix < 8 || prefix > 30 || dport <= 0 || dport > 65535 || seconds <= 0 || seconds > 120) {
    fprintf(stderr, "flood-syn: prefix 8..30, port 1..65535, seconds (0, 120]\n");
    return 2;
  }
  int ifindex = (int)if_nametoindex(argv[1]);
  if (ifindex == 0) { perror("flood-syn: if_nametoindex"); return 1; }
  int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, nothing is received */
  if (fd < 0) { perror("flood-syn: socket"); return 1; }
  struct sockaddr_ll sll = { 0 };
  sll.sll_family = AF_PACKET; sll.sll_ifindex = ifindex; sll.sll_halen = 6; memcpy(sll.sll_addr, dmac, 6);
  int qdisc_bypass = 1; /* as pktgen: straight to the device, as a NIC's wire would */
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &qdisc_bypass, sizeof qdisc_bypass);
  rng_state = ((uint64_t)getpid() << 32) ^ (uint64_t)(now_s() * 1e9) ^ 0x9E3779B97F4A7C15ULL;

  uint32_t net = ntohl(net_in.s_addr) & (0xffffffffu << (32 - prefix));
  uint32_t hosts = (1u << (32 - prefix));
  static uint8_t frames[BATCH][FRAME_LEN];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = frames[i]; iov[i].iov_len = FRAME_LEN;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &sll; msgs[i].msg_hdr.msg_namelen = sizeof sll;
  }
  uint64_t sent = 0, refused = 0;
  double t0 = now_s(), end = t0 + seconds, t = t0;
  while (t < end) {
    int n = BATCH;
    if (rate > 0) {
      double due = (t - t0) * rate - (double)(sent + refused);
      if (due < 1) { struct timespec ns = { 0, 50000 }; nanosleep(&ns, NULL); t = now_s(); continue; }
      if (due < n) n = (int)due;
    }
    for (int i = 0; i < n; i++) {
      uint32_t host = 3 + rnd() % (hosts - 4); /* .0-.2 and the broadcast address are never a source */
      build(frames[i], dmac, smac, htonl(net + host), dst_in.s_addr, (uint16_t)(1024 + rnd() % 64000), (uint16_t)dport, rnd());
    }
    int k = sendmmsg(fd, msgs, (unsigned)n, 0);
    /* sendmmsg stops at the first frame the device refused (a full TAP queue): that one is offered and lost. */
    if (k > 0) sent += (uint64_t)k;
    if (k < n) refused++;
    t = now_s();
  }
  printf("sent %llu refused %llu seconds %.3f\n", (unsigned long long)sent, (unsigned long long)refused, now_s() - t0);
  close(fd);
  return 0;
}
