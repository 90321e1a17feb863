// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* tickwire XDP steering program: the feed's UDP packets to the AF_XDP socket, everything else to the stack.
 *
 * A packet goes to the AF_XDP socket bound to its RX queue (xsks_map[rx_queue_index]) when it is
 * IPv4 (after up to two VLAN tags), UDP, not a fragment, and its destination port (and address, if
 * configured) match tw_cfg. Everything else (ARP, ICMP, other ports, IPv6, ...) returns XDP_PASS, so the
 * kernel stack keeps working on the interface. tw_cfg.dst_port == 0 means "not configured yet: pass all",
 * so attaching the program before user space writes the config never swallows traffic.
 * Built by clang at first use (datapath/afxdp_source.pyx: xdp_object_path) into var/bpf/.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct tw_cfg {
	__u32 dst_ip;    /* network order; 0 = any destination address */
	__u16 dst_port;  /* network order; 0 = program disabled (pass everything) */
	__u16 pad;
};

enum { TW_ST_REDIRECTED = 0, TW_ST_PASSED = 1, TW_ST_NO_SOCKET = 2, TW_ST_MAX = 3 };

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tw_cfg);
} tw_cfg_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TW_ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tw_stats SEC(".maps");

struct vlan_hdr_tw {
	__be16 tci;
	__be16 proto;
};

static __always_inline int count(__u32 k, int action)
{
	__u64 *v = bpf_map_lookup_elem(&tw_stats, &k);
	if (v)
		*v += 1;
	return action;
}

SEC("xdp")
int tw_xdp_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct tw_cfg *cfg = bpf_map_lookup_elem(&tw_cfg_map, &zero);
	struct ethhdr *eth = data;
	__u16 proto;
	void *p;

	if (!cfg || cfg->dst_port == 0)
		return XDP_PASS;
	if ((void *)(eth + 1) > end)
		return count(TW_ST_PASSED, XDP_PASS);
	proto = eth->h_proto;
	p = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			struct vlan_hdr_tw *vh = p;
			if ((void *)(vh + 1) > end)
				return count(TW_ST_PASSED, XDP_PASS);
			proto = vh->proto;
			p = vh + 1;
		}
	}
	if (proto != bpf_htons(ETH_P_IP))
		return count(TW_ST_PASSED, XDP_PASS);
	struct iphdr *ip = p;
	if ((void *)(ip + 1) > end || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
		return count(TW_ST_PASSED, XDP_PASS);
	if (ip->frag_off & bpf_htons(0x3FFF))
		return count(TW_ST_PASSED, XDP_PASS);
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return count(TW_ST_PASSED, XDP_PASS);
	if (udp->dest != cfg->dst_port || (cfg->dst_ip && ip->daddr != cfg->dst_ip))
		return count(TW_ST_PASSED, XDP_PASS);
	/* XDP_PASS as the fallback action: with no socket on this queue the packet still reaches the stack. */
	int rc = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	return count(rc == XDP_REDIRECT ? TW_ST_REDIRECTED : TW_ST_NO_SOCKET, rc);
}

char _license[] SEC("license") = "Dual BSD/GPL";
