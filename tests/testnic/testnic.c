// SPDX-License-Identifier: GPL-2.0
/*
 * testnic: a pair of linked software Ethernet devices that give the kernel's
 * devmem TCP code (net/core/devmem.c, the dma-buf memory provider, the page
 * pool, tcp_recvmsg_dmabuf) a NIC to run against in test VMs.
 *
 * Only the NIC's DMA is emulated: a frame sent on one device is copied by the
 * CPU into buffers of the other device's page pool, at the buffers' DMA
 * addresses, the way a NIC's DMA engine would write them. Everything above
 * that (steering, header split, page pools, memory providers, sockets) is the
 * kernel's own code. This proves nothing about hardware: zero copy needs a
 * NIC whose driver supports devmem. See docs/testnic.md in the project.
 *
 * Supported kernels: 6.12 (LTS) and 7.x. Where their APIs differ the code
 * says TN_KERNEL_7 (set by Kbuild from the kernel version).
 */

#include <linux/debugfs.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/ethtool_netlink.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/platform_device.h>
#include <linux/sizes.h>
#include <linux/skbuff.h>
#include <linux/swiotlb.h>
#include <linux/tcp.h>
#include <linux/u64_stats_sync.h>
#include <linux/udp.h>
#include <linux/unaligned.h>
#include <net/checksum.h>
#include <net/dsfield.h>
#include <net/ip6_checksum.h>
#include <net/netdev_queues.h>
#include <net/netdev_rx_queue.h>
#include <net/page_pool/helpers.h>

/* TN_KERNEL_7 (0 for 6.12, 1 for 7.x) comes from Kbuild. */

#define TN_MAX_QUEUES	16
#define TN_INDIR_SIZE	128
#define TN_KEY_SIZE	40
#define TN_MAX_RULES	32
/* RSS contexts: IDs 1 to TN_RSS_CTX_MAX - 1 (rxfh_max_num_contexts is exclusive). */
#define TN_RSS_CTX_MAX	8
#define TN_RING_MIN	64
#define TN_RING_MAX	4096
#define TN_RING_DEF	256
#define TN_HDS_MAX	1024
#define TN_MTU_MAX	9000
/* rx-page-size (7.x, QCFG_RX_PAGE_SIZE): a power of 2 from PAGE_SIZE to this. */
#define TN_RX_PAGE_MAX	SZ_64K

static unsigned int queues = 4;
module_param(queues, uint, 0444);
MODULE_PARM_DESC(queues, "RX and TX queues per device (1-16, default 4)");

static bool header_split;
module_param(header_split, bool, 0444);
MODULE_PARM_DESC(header_split, "tcp-data-split enabled at load (default off)");

/*
 * Channels as most devmem NICs (bnxt, mlx5, fbnic) count them: combined
 * RX/TX pairs, which the kernel's netkit devmem tests require. Off: separate
 * RX and TX counts.
 */
static bool combined_channels;
module_param(combined_channels, bool, 0444);
MODULE_PARM_DESC(combined_channels, "channels are combined RX/TX pairs (default off: separate rx and tx counts)");

/*
 * Fault knobs, in the manner of netdevsim: debugfs files under
 * /sys/kernel/debug/testnic/IFNAME/ that make chosen driver operations fail,
 * so that tests can reach the error paths of the kernel and of their own
 * setup code. Writing "COUNT [ERRNO [SKIP]]" lets SKIP calls through, then
 * fails the next COUNT calls with -ERRNO (default EIO); reading shows what is
 * left. All are off (COUNT 0) at load.
 */
enum tn_fault_op {
	TN_FAIL_QUEUE_MEM_ALLOC,
	TN_FAIL_PAGE_POOL_ALLOC,
	TN_FAIL_QUEUE_STOP,
	TN_FAIL_QUEUE_START,
	TN_FAIL_RINGS_SET,
	TN_FAIL_RSS_SET,
	TN_FAIL_NTUPLE_INSERT,
	TN_FAIL_NTUPLE_DELETE,
	TN_FAIL_NR
};

static const char * const tn_fault_names[TN_FAIL_NR] = {
	[TN_FAIL_QUEUE_MEM_ALLOC]	= "fail_queue_mem_alloc",
	[TN_FAIL_PAGE_POOL_ALLOC]	= "fail_page_pool_alloc",
	[TN_FAIL_QUEUE_STOP]		= "fail_queue_stop",
	[TN_FAIL_QUEUE_START]		= "fail_queue_start",
	[TN_FAIL_RINGS_SET]		= "fail_rings_set",
	[TN_FAIL_RSS_SET]		= "fail_rss_set",
	[TN_FAIL_NTUPLE_INSERT]		= "fail_ntuple_insert",
	[TN_FAIL_NTUPLE_DELETE]		= "fail_ntuple_delete",
};

struct tn_fault {
	struct tn_priv *priv;
	u32 skip, count;
	int err;
};

/* An RSS context's table and key, as the steering reads them (under tn_priv.lock). */
struct tn_rss_ctx {
	u32 indir[TN_INDIR_SIZE];
	u8 key[TN_KEY_SIZE];
};

struct tn_rq {
	struct napi_struct napi;
	struct sk_buff_head wire;	/* frames sent to this queue, not yet received */
	struct page_pool *pp;		/* NULL while the device is down */
	unsigned int buf_size;		/* of pp's buffers: PAGE_SIZE << order */
	struct tn_priv *priv;
	unsigned int idx;
	/* frames and bytes received on this queue (ethtool -S), written by its NAPI */
	struct u64_stats_sync syncp;
	u64_stats_t packets, bytes;
};

struct tn_priv {
	struct net_device *dev;
	struct tn_priv *peer;
	bool hds;			/* tcp-data-split enabled */
	u32 hds_thresh;
	u32 rx_ring, tx_ring;
	bool ever_bound;		/* a memory provider was installed on a queue */
	spinlock_t fault_lock;		/* faults */
	struct tn_fault faults[TN_FAIL_NR];
	spinlock_t lock;		/* rules, indir, key, RSS contexts: read by the peer's xmit */
	u32 indir[TN_INDIR_SIZE];
	u8 key[TN_KEY_SIZE];
	struct ethtool_rx_flow_spec rules[TN_MAX_RULES];
	u32 rule_ctx[TN_MAX_RULES];	/* a FLOW_RSS rule's RSS context (0: the default one) */
	DECLARE_BITMAP(rule_used, TN_MAX_RULES);
	/* [0] is unused: context 0 is indir and key above */
	struct tn_rss_ctx rss_ctx[TN_RSS_CTX_MAX];
	DECLARE_BITMAP(rss_ctx_used, TN_RSS_CTX_MAX);
	struct tn_rq rq[];
};

struct tn_qmem {
	struct page_pool *pp;
	unsigned int buf_size;
};

/* What the RX side needs to know of a frame, parsed from its headers. */
struct tn_flow {
	u16 proto;			/* ETH_P_IP, ETH_P_IPV6 or 0 */
	u8 l4proto;			/* IPPROTO_TCP, IPPROTO_UDP or 0 */
	u8 tos;
	__be32 saddr[4], daddr[4];
	__be16 sport, dport;
	unsigned int len;		/* frame length without Ethernet padding */
	unsigned int l4off, hdrlen;	/* L4 header offset; end of the TCP/UDP header */
};

static struct platform_device *tn_pdev;
static struct net_device *tn_devs[2];
static struct dentry *tn_debugfs;

static void tn_napi_enable(struct napi_struct *napi)
{
#if TN_KERNEL_7
	napi_enable_locked(napi);	/* 7.x: queue_mgmt_ops make this device ops-locked */
#else
	napi_enable(napi);
#endif
}

static void tn_napi_disable(struct napi_struct *napi)
{
#if TN_KERNEL_7
	napi_disable_locked(napi);
#else
	napi_disable(napi);
#endif
}

/*
 * The DMA emulation writes and reads buffers at phys_to_virt(dma_to_phys(addr)).
 * That holds only for dma-direct: no IOMMU translating addresses, no swiotlb
 * bounce buffers, and a 64-bit mask so that no address is ever bounced.
 */
static int tn_check_dma(struct net_device *dev)
{
	struct device *d = dev->dev.parent;

	if (!device_iommu_mapped(d) && !get_dma_ops(d) &&
	    !is_swiotlb_force_bounce(d) && dma_get_mask(d) == DMA_BIT_MASK(64))
		return 0;
	netdev_err(dev, "DMA is emulated by CPU copy at the DMA address: this needs dma-direct with a 64-bit mask, no IOMMU and no swiotlb bouncing (boot without an IOMMU)\n");
	return -EOPNOTSUPP;
}

static void *tn_dma_va(struct device *d, dma_addr_t addr)
{
	return phys_to_virt(dma_to_phys(d, addr));
}

/*
 * ---- steering: ntuple rules, then RSS over a Toeplitz hash ----
 * A rule's action is a queue, drop, or (FLOW_RSS) an RSS context: that
 * context's own table and key pick the queue.
 */

static bool tn_parse(struct sk_buff *skb, struct tn_flow *fl)
{
	const struct ethhdr *eth;
	struct ethhdr ethb;
	unsigned int l3len;

	memset(fl, 0, sizeof(*fl));
	fl->len = skb->len;
	eth = skb_header_pointer(skb, 0, sizeof(ethb), &ethb);
	if (!eth)
		return false;
	if (eth->h_proto == htons(ETH_P_IP)) {
		const struct iphdr *iph;
		struct iphdr iphb;

		iph = skb_header_pointer(skb, ETH_HLEN, sizeof(iphb), &iphb);
		if (!iph || iph->ihl < 5)
			return false;
		l3len = ntohs(iph->tot_len);
		if (l3len < iph->ihl * 4 || ETH_HLEN + l3len > skb->len)
			return false;
		fl->len = ETH_HLEN + l3len;
		fl->proto = ETH_P_IP;
		fl->saddr[0] = iph->saddr;
		fl->daddr[0] = iph->daddr;
		fl->tos = iph->tos;
		if (ip_is_fragment(iph))
			return true;
		fl->l4proto = iph->protocol;
		fl->l4off = ETH_HLEN + iph->ihl * 4;
	} else if (eth->h_proto == htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6;
		struct ipv6hdr ip6b;

		ip6 = skb_header_pointer(skb, ETH_HLEN, sizeof(ip6b), &ip6b);
		if (!ip6)
			return false;
		l3len = sizeof(*ip6) + ntohs(ip6->payload_len);
		if (ETH_HLEN + l3len > skb->len)
			return false;
		fl->len = ETH_HLEN + l3len;
		fl->proto = ETH_P_IPV6;
		memcpy(fl->saddr, &ip6->saddr, 16);
		memcpy(fl->daddr, &ip6->daddr, 16);
		fl->tos = ipv6_get_dsfield(ip6);
		/* Extension headers are not parsed: such frames get no L4 handling. */
		fl->l4proto = ip6->nexthdr;
		fl->l4off = ETH_HLEN + sizeof(*ip6);
	} else {
		return true;
	}

	if (fl->l4proto == IPPROTO_TCP) {
		const struct tcphdr *th;
		struct tcphdr thb;

		th = skb_header_pointer(skb, fl->l4off, sizeof(thb), &thb);
		if (!th || th->doff < 5 || fl->l4off + th->doff * 4 > fl->len)
			return false;
		fl->sport = th->source;
		fl->dport = th->dest;
		fl->hdrlen = fl->l4off + th->doff * 4;
	} else if (fl->l4proto == IPPROTO_UDP) {
		const struct udphdr *uh;
		struct udphdr uhb;

		uh = skb_header_pointer(skb, fl->l4off, sizeof(uhb), &uhb);
		if (!uh || fl->l4off + sizeof(*uh) > fl->len)
			return false;
		fl->sport = uh->source;
		fl->dport = uh->dest;
		fl->hdrlen = fl->l4off + sizeof(*uh);
	} else {
		fl->l4proto = 0;
	}
	return true;
}

static bool tn_match(const __be32 *v, const __be32 *h, const __be32 *m, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if ((v[i] ^ h[i]) & m[i])
			return false;
	return true;
}

/* One rule against a flow (ethtool_rx_flow_spec: a mask bit of 1 compares). */
static bool tn_rule_match(const struct ethtool_rx_flow_spec *fs,
			  const struct tn_flow *fl)
{
	u32 type = fs->flow_type & ~FLOW_RSS;
	bool v6 = type == TCP_V6_FLOW || type == UDP_V6_FLOW;
	u8 l4 = type == TCP_V4_FLOW || type == TCP_V6_FLOW ? IPPROTO_TCP :
							      IPPROTO_UDP;

	if (fl->l4proto != l4 || fl->proto != (v6 ? ETH_P_IPV6 : ETH_P_IP))
		return false;
	if (v6) {
		const struct ethtool_tcpip6_spec *h = &fs->h_u.tcp_ip6_spec;
		const struct ethtool_tcpip6_spec *m = &fs->m_u.tcp_ip6_spec;

		return tn_match(fl->saddr, h->ip6src, m->ip6src, 4) &&
		       tn_match(fl->daddr, h->ip6dst, m->ip6dst, 4) &&
		       !((fl->sport ^ h->psrc) & m->psrc) &&
		       !((fl->dport ^ h->pdst) & m->pdst) &&
		       !((fl->tos ^ h->tclass) & m->tclass);
	} else {
		const struct ethtool_tcpip4_spec *h = &fs->h_u.tcp_ip4_spec;
		const struct ethtool_tcpip4_spec *m = &fs->m_u.tcp_ip4_spec;

		return !((fl->saddr[0] ^ h->ip4src) & m->ip4src) &&
		       !((fl->daddr[0] ^ h->ip4dst) & m->ip4dst) &&
		       !((fl->sport ^ h->psrc) & m->psrc) &&
		       !((fl->dport ^ h->pdst) & m->pdst) &&
		       !((fl->tos ^ h->tos) & m->tos);
	}
}

/* Toeplitz hash, as RSS hardware computes it (key >= len + 4 bytes). */
static u32 tn_toeplitz(const u8 *key, const u8 *data, unsigned int len)
{
	u32 v = get_unaligned_be32(key), hash = 0;
	unsigned int i, b;

	for (i = 0; i < len; i++) {
		for (b = 0; b < 8; b++) {
			if (data[i] & (0x80 >> b))
				hash ^= v;
			v = (v << 1) | ((key[i + 4] >> (7 - b)) & 1);
		}
	}
	return hash;
}

/* The RX queue of @rx a flow lands in; -1 when a rule says drop. */
static int tn_steer(struct tn_priv *rx, const struct tn_flow *fl)
{
	unsigned int n = fl->proto == ETH_P_IPV6 ? 16 : 4, i, len = 0;
	const u32 *indir = rx->indir;
	const u8 *key = rx->key;
	u8 tuple[36];
	int q = 0;

	spin_lock(&rx->lock);
	if (rx->dev->features & NETIF_F_NTUPLE) {
		for_each_set_bit(i, rx->rule_used, TN_MAX_RULES) {
			const struct ethtool_rx_flow_spec *fs = &rx->rules[i];
			u32 ctx = rx->rule_ctx[i];

			if (!tn_rule_match(fs, fl))
				continue;
			if (!(fs->flow_type & FLOW_RSS)) {
				q = fs->ring_cookie == RX_CLS_FLOW_DISC ? -1 :
				    ethtool_get_flow_spec_ring(fs->ring_cookie);
				goto out;
			}
			/* Its ring_cookie is 0 (no cap_rss_rxnfc_adds). */
			if (ctx && test_bit(ctx, rx->rss_ctx_used)) {
				indir = rx->rss_ctx[ctx].indir;
				key = rx->rss_ctx[ctx].key;
			}
			break;
		}
	}
	if (fl->proto) {
		memcpy(tuple, fl->saddr, n);
		memcpy(tuple + n, fl->daddr, n);
		len = 2 * n;
		if (fl->l4proto) {
			memcpy(tuple + len, &fl->sport, 2);
			memcpy(tuple + len + 2, &fl->dport, 2);
			len += 4;
		}
		q = indir[tn_toeplitz(key, tuple, len) % TN_INDIR_SIZE];
	}
out:
	spin_unlock(&rx->lock);
	if (q >= (int)rx->dev->real_num_rx_queues)
		q = 0;
	return q;
}

/* ---- TX: put the frame on the wire (the peer's RX queue) ---- */

static netdev_tx_t tn_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct tn_priv *priv = netdev_priv(dev), *peer = priv->peer;
	unsigned int len = skb->len;
	struct tn_flow fl;
	struct tn_rq *rq;
	int q;

	if (!netif_running(peer->dev) || !tn_parse(skb, &fl))
		goto drop;
	q = tn_steer(peer, &fl);
	if (q < 0)
		goto drop;
	rq = &peer->rq[q];
	if (skb_queue_len(&rq->wire) >= 2 * peer->rx_ring)
		goto drop;
	skb_tx_timestamp(skb);
	skb_queue_tail(&rq->wire, skb);
	/*
	 * Flow control as with a full descriptor ring: stop this TX queue; the
	 * receiving NAPI wakes it once it has drained. The schedule comes after
	 * the stop, so a NAPI run always follows it.
	 */
	if (skb_queue_len(&rq->wire) >= peer->rx_ring)
		netif_stop_subqueue(dev, skb_get_queue_mapping(skb));
	dev_sw_netstats_tx_add(dev, 1, len);
	napi_schedule(&rq->napi);
	return NETDEV_TX_OK;
drop:
	dev_core_stats_tx_dropped_inc(dev);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* ---- RX: the emulated DMA ---- */

struct tn_copy {
	struct sk_buff *wire;
	struct device *dmadev;
	unsigned int cstart;		/* checksum from here to the frame's end */
	__wsum csum;
};

/* Address of @frag's data for reading: a net_iov (devmem TX) by its DMA address. */
static void *tn_frag_va(struct tn_copy *c, const skb_frag_t *frag)
{
#if TN_KERNEL_7
	if (skb_frag_is_net_iov(frag))
		return tn_dma_va(c->dmadev,
				 __skb_frag_dma_map(c->dmadev, frag, 0,
						    skb_frag_size(frag),
						    DMA_TO_DEVICE));
#else
	if (skb_frag_is_net_iov(frag))
		return NULL;		/* 6.12 has no netmem TX */
#endif
	return skb_frag_address(frag);
}

/* The csum of what is copied is folded in as it goes (verify while copying). */
static void tn_sum(struct tn_copy *c, const void *p, unsigned int off,
		   unsigned int len)
{
	unsigned int skip;

	if (off + len <= c->cstart)
		return;
	skip = off < c->cstart ? c->cstart - off : 0;
	c->csum = csum_block_add(c->csum, csum_partial(p + skip, len - skip, 0),
				 off + skip - c->cstart);
}

/* Copy @len bytes of the frame at @off to @dst: linear part, then frags. */
static bool tn_copy_out(struct tn_copy *c, unsigned int off, u8 *dst,
			unsigned int len)
{
	struct sk_buff *skb = c->wire;
	unsigned int pos = 0, hl = skb_headlen(skb), i;

	if (off < hl) {
		unsigned int n = min(len, hl - off);

		memcpy(dst, skb->data + off, n);
		tn_sum(c, dst, off, n);
		dst += n;
		off += n;
		len -= n;
	}
	pos = hl;
	for (i = 0; len && i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *f = &skb_shinfo(skb)->frags[i];
		unsigned int fs = skb_frag_size(f), n, in;
		u8 *src;

		if (off >= pos + fs) {
			pos += fs;
			continue;
		}
		src = tn_frag_va(c, f);
		if (!src)
			return false;
		in = off - pos;
		n = min(len, fs - in);
		memcpy(dst, src + in, n);
		tn_sum(c, dst, off, n);
		dst += n;
		off += n;
		len -= n;
		pos += fs;
	}
	return !len;
}

/* The checksum as an offloading NIC pair handles it; false: bad, drop. */
static bool tn_csum(struct sk_buff *skb, struct tn_copy *c,
		    const struct tn_flow *fl)
{
	struct sk_buff *wire = c->wire;
	unsigned int l4len = fl->len - fl->l4off;
	__sum16 *field, sum;

	if (wire->ip_summed == CHECKSUM_PARTIAL) {
		/* The sending NIC inserts the checksum (NETIF_F_HW_CSUM). */
		field = (__sum16 *)(skb->data + c->cstart + wire->csum_offset);
		sum = csum_fold(c->csum);
		if (fl->l4proto == IPPROTO_UDP && !sum)
			sum = CSUM_MANGLED_0;
		*field = sum;
		skb->ip_summed = fl->l4proto && c->cstart == fl->l4off ?
				 CHECKSUM_UNNECESSARY : CHECKSUM_NONE;
		return true;
	}
	if (!fl->l4proto)
		return true;		/* the stack checks what it can read */
	if (fl->l4proto == IPPROTO_UDP && fl->proto == ETH_P_IP &&
	    !udp_hdr(skb)->check)
		return true;		/* IPv4 UDP without checksum */
	if (fl->proto == ETH_P_IP)
		sum = csum_tcpudp_magic(fl->saddr[0], fl->daddr[0], l4len,
					fl->l4proto, c->csum);
	else
		sum = csum_ipv6_magic((struct in6_addr *)fl->saddr,
				      (struct in6_addr *)fl->daddr, l4len,
				      fl->l4proto, c->csum);
	if (sum)
		return false;
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	return true;
}

static void tn_rx_one(struct tn_rq *rq, struct sk_buff *wire, int budget)
{
	struct net_device *dev = rq->priv->dev;
	struct tn_copy c = { .wire = wire, .dmadev = dev->dev.parent };
	unsigned int bsz = rq->buf_size, split, off;
	struct sk_buff *skb;
	struct tn_flow fl;

	if (!tn_parse(wire, &fl) || skb_has_frag_list(wire))
		goto drop_wire;
	c.cstart = wire->ip_summed == CHECKSUM_PARTIAL ?
		   skb_checksum_start_offset(wire) :
		   fl.l4proto ? fl.l4off : fl.len;
	/*
	 * Header split: TCP headers to the linear part, the payload to page pool
	 * buffers (with a memory provider: dma-buf pages the CPU cannot read).
	 * Each buffer takes up to its size (the rx-page-size on 7.x), as a NIC
	 * fills its ring's buffers.
	 */
	split = fl.len;
	if (READ_ONCE(rq->priv->hds) && fl.l4proto == IPPROTO_TCP &&
	    fl.len - fl.hdrlen > READ_ONCE(rq->priv->hds_thresh))
		split = fl.hdrlen;
	if (c.cstart > fl.len || (wire->ip_summed == CHECKSUM_PARTIAL &&
				  c.cstart + wire->csum_offset + 2 > split))
		goto drop_wire;

	skb = napi_alloc_skb(&rq->napi, split);
	if (!skb)
		goto drop_wire;
	skb_mark_for_recycle(skb);
	if (!tn_copy_out(&c, 0, skb_put(skb, split), split))
		goto drop;
	for (off = split; off < fl.len; ) {
		unsigned int n = min(fl.len - off, bsz);
		netmem_ref nm;

		if (skb_shinfo(skb)->nr_frags >= MAX_SKB_FRAGS)
			goto drop;
		nm = page_pool_alloc_netmems(rq->pp, GFP_ATOMIC | __GFP_NOWARN);
		if (!nm)
			goto drop;
		skb_add_rx_frag_netmem(skb, skb_shinfo(skb)->nr_frags, nm, 0, n,
				       bsz);
		if (!tn_copy_out(&c, off, tn_dma_va(c.dmadev,
				 page_pool_get_dma_addr_netmem(nm)), n))
			goto drop;
		off += n;
	}
	skb_reset_mac_header(skb);
	if (fl.l4proto)
		skb_set_transport_header(skb, fl.l4off);
	if (!tn_csum(skb, &c, &fl)) {
		DEV_STATS_INC(dev, rx_errors);
		goto drop;
	}
	skb->protocol = eth_type_trans(skb, dev);
	skb_record_rx_queue(skb, rq->idx);
	dev_sw_netstats_rx_add(dev, fl.len);
	u64_stats_update_begin(&rq->syncp);
	u64_stats_inc(&rq->packets);
	u64_stats_add(&rq->bytes, fl.len);
	u64_stats_update_end(&rq->syncp);
	napi_gro_receive(&rq->napi, skb);
	napi_consume_skb(wire, budget);
	return;
drop:
	kfree_skb(skb);
drop_wire:
	dev_core_stats_rx_dropped_inc(dev);
	napi_consume_skb(wire, budget);
}

/* Wake the sender's TX queues (if it is up: a down device's queues stay stopped). */
static void tn_wake_peer(struct tn_priv *priv)
{
	if (netif_running(priv->peer->dev))
		netif_tx_wake_all_queues(priv->peer->dev);
}

static int tn_poll(struct napi_struct *napi, int budget)
{
	struct tn_rq *rq = container_of(napi, struct tn_rq, napi);
	struct tn_priv *priv = rq->priv;
	struct sk_buff *wire;
	int done = 0;

	while (done < budget && (wire = skb_dequeue(&rq->wire))) {
		tn_rx_one(rq, wire, budget);
		done++;
	}
	if (skb_queue_len(&rq->wire) < priv->rx_ring / 2)
		tn_wake_peer(priv);
	if (done < budget)
		napi_complete_done(napi, done);
	return done;
}

/* ---- fault knobs ---- */

/* 0, or the error the knob for @op injects into this call. */
static int tn_fault(struct tn_priv *priv, enum tn_fault_op op)
{
	struct tn_fault *f = &priv->faults[op];
	int err = 0;

	spin_lock_bh(&priv->fault_lock);
	if (f->count && f->skip) {
		f->skip--;
	} else if (f->count) {
		f->count--;
		err = -f->err;
	}
	spin_unlock_bh(&priv->fault_lock);
	if (err)
		netdev_info(priv->dev, "%s: injected error %d\n",
			    tn_fault_names[op], err);
	return err;
}

static ssize_t tn_fault_read(struct file *file, char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	struct tn_fault *f = file->private_data;
	char buf[40];
	int n;

	spin_lock_bh(&f->priv->fault_lock);
	n = scnprintf(buf, sizeof(buf), "%u %d %u\n", f->count, f->err, f->skip);
	spin_unlock_bh(&f->priv->fault_lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static ssize_t tn_fault_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	struct tn_fault *f = file->private_data;
	unsigned int count, err = EIO, skip = 0;
	char buf[40];
	ssize_t n;

	if (*ppos || len >= sizeof(buf))
		return -EINVAL;
	n = simple_write_to_buffer(buf, sizeof(buf) - 1, ppos, ubuf, len);
	if (n < 0)
		return n;
	buf[n] = '\0';
	if (sscanf(buf, "%u %u %u", &count, &err, &skip) < 1 ||
	    !err || err >= MAX_ERRNO)
		return -EINVAL;
	spin_lock_bh(&f->priv->fault_lock);
	f->count = count;
	f->err = err;
	f->skip = skip;
	spin_unlock_bh(&f->priv->fault_lock);
	return n;
}

static const struct file_operations tn_fault_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= tn_fault_read,
	.write	= tn_fault_write,
	.llseek	= default_llseek,
};

static void tn_debugfs_add(struct net_device *dev)
{
	struct tn_priv *priv = netdev_priv(dev);
	struct dentry *dir = debugfs_create_dir(dev->name, tn_debugfs);
	int i;

	for (i = 0; i < TN_FAIL_NR; i++)
		debugfs_create_file(tn_fault_names[i], 0600, dir,
				    &priv->faults[i], &tn_fault_fops);
}

/* ---- page pools and the queue management API ---- */

/*
 * The size of queue @idx's buffers. On 7.x that is its rx-page-size: the
 * driver's default (PAGE_SIZE) unless a memory provider asks for more, as
 * bind-rx does with rx-page-size (net/core/netdev_config.c). 6.12 has none.
 */
static unsigned int tn_rx_buf_size(struct net_device *dev, int idx)
{
#if TN_KERNEL_7
	struct netdev_queue_config qcfg;

	netdev_queue_config(dev, idx, &qcfg);
	return qcfg.rx_page_size;
#else
	return PAGE_SIZE;
#endif
}

/*
 * A pool of @buf_size buffers. The devmem provider takes the pool only when
 * its order matches the binding's niov size (mp_dmabuf_devmem_init() in
 * net/core/devmem.c).
 */
static struct page_pool *tn_pool_create(struct tn_priv *priv, int idx,
					unsigned int buf_size)
{
	struct page_pool_params pp = {
		/* 6.12 makes no unreadable pool without DMA_MAP, SYNC_DEV, max_len. */
		.flags = PP_FLAG_DMA_MAP | PP_FLAG_DMA_SYNC_DEV,
		.order = get_order(buf_size),
		.pool_size = priv->rx_ring,
		.nid = NUMA_NO_NODE,
		.dev = priv->dev->dev.parent,
		.dma_dir = DMA_FROM_DEVICE,
		.max_len = buf_size,
		.netdev = priv->dev,
		.queue_idx = idx,
	};
	struct page_pool *pool;
	int err;

	err = tn_check_dma(priv->dev);
	if (err)
		return ERR_PTR(err);
	/* A memory provider may serve unreadable buffers only with header split. */
	if (READ_ONCE(priv->hds))
		pp.flags |= PP_FLAG_ALLOW_UNREADABLE_NETMEM;
	pool = page_pool_create(&pp);
	if (IS_ERR(pool))
		return pool;
	if (__netif_get_rx_queue(priv->dev, idx)->mp_params.mp_priv)
		priv->ever_bound = true;
	/*
	 * As a NIC whose first buffer allocation (its ring fill) fails: the pool
	 * (and its memory provider, when binding) was made and is destroyed.
	 */
	err = tn_fault(priv, TN_FAIL_PAGE_POOL_ALLOC);
	if (err) {
		page_pool_destroy(pool);
		return ERR_PTR(err);
	}
	return pool;
}

/*
 * On 7.x the running pool is tied to its queue's NAPI, as a NIC driver's is
 * (page_pool_params.napi; bnxt and fbnic hand it over and take it back
 * around their queue restarts the same way): the pool's netlink dump then
 * reports its napi-id, by which tools find a queue's pool (the kernel's
 * tools/testing/selftests/drivers/net/hw/iou-zcrx.py). It is untied while the
 * NAPI is disabled: a pool tied to a running NAPI must not be destroyed
 * (page_pool_disable_direct_recycling in net/core/page_pool.c), and the new
 * pool of a queue restart that fails is destroyed while the old one runs.
 */
static void tn_rq_start(struct tn_rq *rq, struct page_pool *pp,
			unsigned int buf_size)
{
	rq->pp = pp;
	rq->buf_size = buf_size;
	netif_queue_set_napi(rq->priv->dev, rq->idx, NETDEV_QUEUE_TYPE_RX,
			     &rq->napi);
#if TN_KERNEL_7
	page_pool_enable_direct_recycling(pp, &rq->napi);
#endif
	tn_napi_enable(&rq->napi);
	napi_schedule(&rq->napi);	/* frames may have waited on the wire */
}

static struct page_pool *tn_rq_stop(struct tn_rq *rq)
{
	struct page_pool *pp = rq->pp;

	tn_napi_disable(&rq->napi);
#if TN_KERNEL_7
	if (pp)
		page_pool_disable_direct_recycling(pp);
#endif
	netif_queue_set_napi(rq->priv->dev, rq->idx, NETDEV_QUEUE_TYPE_RX, NULL);
	rq->pp = NULL;
	return pp;
}

#if TN_KERNEL_7
static int tn_queue_mem_alloc(struct net_device *dev,
			      struct netdev_queue_config *qcfg, void *mem, int idx)
#else
static int tn_queue_mem_alloc(struct net_device *dev, void *mem, int idx)
#endif
{
	struct tn_qmem *qm = mem;
	int err;

	qm->pp = NULL;
#if TN_KERNEL_7
	/* The core validated it (tn_validate_qcfg) before it got here. */
	qm->buf_size = qcfg->rx_page_size;
#else
	qm->buf_size = PAGE_SIZE;
#endif
	err = tn_fault(netdev_priv(dev), TN_FAIL_QUEUE_MEM_ALLOC);
	if (err)
		return err;
	if (!netif_running(dev))	/* 6.12 restarts queues of a down device */
		return 0;
	qm->pp = tn_pool_create(netdev_priv(dev), idx, qm->buf_size);
	if (IS_ERR(qm->pp)) {
		int err = PTR_ERR(qm->pp);

		qm->pp = NULL;
		return err;
	}
	return 0;
}

static void tn_queue_mem_free(struct net_device *dev, void *mem)
{
	struct tn_qmem *qm = mem;

	if (qm->pp)
		page_pool_destroy(qm->pp);
}

#if TN_KERNEL_7
static int tn_queue_start(struct net_device *dev,
			  struct netdev_queue_config *qcfg, void *mem, int idx)
#else
static int tn_queue_start(struct net_device *dev, void *mem, int idx)
#endif
{
	struct tn_priv *priv = netdev_priv(dev);
	struct tn_qmem *qm = mem;
	int err;

	/*
	 * Fails before it takes @mem: netdev_rx_queue_restart() frees the new
	 * memory and starts the queue again on the old memory, a second call.
	 */
	err = tn_fault(priv, TN_FAIL_QUEUE_START);
	if (err)
		return err;
	if (qm->pp)
		tn_rq_start(&priv->rq[idx], qm->pp, qm->buf_size);
	return 0;
}

static int tn_queue_stop(struct net_device *dev, void *mem, int idx)
{
	struct tn_priv *priv = netdev_priv(dev);
	struct tn_qmem *qm = mem;
	int err;

	qm->pp = NULL;
	/* Fails with the queue still running on its old memory. */
	err = tn_fault(priv, TN_FAIL_QUEUE_STOP);
	if (err)
		return err;
	/* The old memory, in case the restart puts it back (same buffers). */
	qm->buf_size = priv->rq[idx].buf_size;
	if (priv->rq[idx].pp)
		qm->pp = tn_rq_stop(&priv->rq[idx]);
	return 0;
}

#if TN_KERNEL_7
/*
 * rx-page-size (QCFG_RX_PAGE_SIZE), as bnxt has it (bnxt_queue_default_qcfg,
 * bnxt_validate_qcfg): the default is a page; larger sizes are powers of 2 up
 * to TN_RX_PAGE_MAX, else ERANGE. bind-rx has already refused sizes that are
 * not powers of 2 or below PAGE_SIZE (netdev_nl_bind_rx_doit and its policy).
 */
static void tn_default_qcfg(struct net_device *dev,
			    struct netdev_queue_config *qcfg)
{
	qcfg->rx_page_size = PAGE_SIZE;
}

static int tn_validate_qcfg(struct net_device *dev,
			    struct netdev_queue_config *qcfg,
			    struct netlink_ext_ack *extack)
{
	if (!is_power_of_2(qcfg->rx_page_size) ||
	    qcfg->rx_page_size < PAGE_SIZE ||
	    qcfg->rx_page_size > TN_RX_PAGE_MAX) {
		NL_SET_ERR_MSG_FMT_MOD(extack,
				       "rx-page-size must be a power of 2 from %lu to %u",
				       PAGE_SIZE, TN_RX_PAGE_MAX);
		return -ERANGE;
	}
	return 0;
}
#endif

static const struct netdev_queue_mgmt_ops tn_queue_ops = {
	.ndo_queue_mem_size	= sizeof(struct tn_qmem),
	.ndo_queue_mem_alloc	= tn_queue_mem_alloc,
	.ndo_queue_mem_free	= tn_queue_mem_free,
	.ndo_queue_start	= tn_queue_start,
	.ndo_queue_stop		= tn_queue_stop,
#if TN_KERNEL_7
	.ndo_default_qcfg	= tn_default_qcfg,
	.ndo_validate_qcfg	= tn_validate_qcfg,
	.supported_params	= QCFG_RX_PAGE_SIZE,
#endif
};

/* ---- net_device_ops ---- */

static int tn_open(struct net_device *dev)
{
	struct tn_priv *priv = netdev_priv(dev);
	struct page_pool *pp[TN_MAX_QUEUES];
	unsigned int bsz[TN_MAX_QUEUES];
	unsigned int i;

	for (i = 0; i < dev->real_num_rx_queues; i++) {
		/* A queue bound while the device was down keeps its rx-page-size. */
		bsz[i] = tn_rx_buf_size(dev, i);
		pp[i] = tn_pool_create(priv, i, bsz[i]);
		if (IS_ERR(pp[i])) {
			int err = PTR_ERR(pp[i]);

			while (i--)
				page_pool_destroy(pp[i]);
			return err;
		}
	}
	for (i = 0; i < dev->real_num_rx_queues; i++)
		tn_rq_start(&priv->rq[i], pp[i], bsz[i]);
	netif_tx_start_all_queues(dev);
	if (netif_running(priv->peer->dev)) {
		netif_carrier_on(dev);
		netif_carrier_on(priv->peer->dev);
	}
	return 0;
}

static int tn_stop(struct net_device *dev)
{
	struct tn_priv *priv = netdev_priv(dev);
	unsigned int i;

	netif_carrier_off(dev);
	netif_carrier_off(priv->peer->dev);
	netif_tx_stop_all_queues(dev);
	for (i = 0; i < dev->num_rx_queues; i++) {
		struct tn_rq *rq = &priv->rq[i];

		if (rq->pp)
			page_pool_destroy(tn_rq_stop(rq));
		skb_queue_purge(&rq->wire);
	}
	tn_wake_peer(priv);
	return 0;
}

static int tn_get_iflink(const struct net_device *dev)
{
	struct tn_priv *priv = netdev_priv(dev);

	return priv->peer->dev->ifindex;
}

static int tn_set_features(struct net_device *dev, netdev_features_t features)
{
	struct tn_priv *priv = netdev_priv(dev);

	/* Like mlx5: switching ntuple filtering off drops the rules. */
	if ((dev->features & NETIF_F_NTUPLE) && !(features & NETIF_F_NTUPLE)) {
		spin_lock_bh(&priv->lock);
		bitmap_zero(priv->rule_used, TN_MAX_RULES);
		spin_unlock_bh(&priv->lock);
	}
	return 0;
}

static const struct net_device_ops tn_netdev_ops = {
	.ndo_open		= tn_open,
	.ndo_stop		= tn_stop,
	.ndo_start_xmit		= tn_xmit,
	.ndo_get_iflink		= tn_get_iflink,
	.ndo_set_features	= tn_set_features,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

/* ---- ethtool: rings (header split), channels, RSS, ntuple ---- */

static void tn_get_ringparam(struct net_device *dev,
			     struct ethtool_ringparam *ring,
			     struct kernel_ethtool_ringparam *kring,
			     struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);

	ring->rx_max_pending = TN_RING_MAX;
	ring->tx_max_pending = TN_RING_MAX;
	ring->rx_pending = priv->rx_ring;
	ring->tx_pending = priv->tx_ring;
	kring->tcp_data_split = priv->hds ? ETHTOOL_TCP_DATA_SPLIT_ENABLED :
					    ETHTOOL_TCP_DATA_SPLIT_DISABLED;
#if TN_KERNEL_7
	kring->hds_thresh = priv->hds_thresh;
	kring->hds_thresh_max = TN_HDS_MAX;
#endif
}

static int tn_set_ringparam(struct net_device *dev,
			    struct ethtool_ringparam *ring,
			    struct kernel_ethtool_ringparam *kring,
			    struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);
	int err;

	err = tn_fault(priv, TN_FAIL_RINGS_SET);
	if (err)
		return err;
	if (ring->rx_pending < TN_RING_MIN || ring->tx_pending < TN_RING_MIN) {
		NL_SET_ERR_MSG_MOD(extack, "rings must hold at least 64 entries");
		return -EINVAL;
	}
	/* New ring sizes size the page pools made from now on. */
	priv->rx_ring = ring->rx_pending;
	priv->tx_ring = ring->tx_pending;
	/* UNKNOWN asks for the driver's default: off. */
	WRITE_ONCE(priv->hds,
		   kring->tcp_data_split == ETHTOOL_TCP_DATA_SPLIT_ENABLED);
#if TN_KERNEL_7
	WRITE_ONCE(priv->hds_thresh, kring->hds_thresh);
#endif
	return 0;
}

static void tn_get_channels(struct net_device *dev, struct ethtool_channels *ch)
{
	if (combined_channels) {
		ch->max_combined = dev->num_rx_queues;
		ch->combined_count = dev->real_num_rx_queues;
		return;
	}
	ch->max_rx = dev->num_rx_queues;
	ch->max_tx = dev->num_tx_queues;
	ch->rx_count = dev->real_num_rx_queues;
	ch->tx_count = dev->real_num_tx_queues;
}

static int tn_set_channels(struct net_device *dev, struct ethtool_channels *ch)
{
	struct tn_priv *priv = netdev_priv(dev);
	unsigned int old = dev->real_num_rx_queues, i;
	u32 rxc = ch->rx_count, txc = ch->tx_count;
	bool up = netif_running(dev);
	int err;

	if (combined_channels) {
		/* The core refused rx or tx above their maximum, 0. */
		rxc = ch->combined_count;
		txc = ch->combined_count;
	}
	if (!rxc || !txc)
		return -EINVAL;
	/* The core refused counts below bound queues, RSS entries and rules. */
	err = netif_set_real_num_tx_queues(dev, txc);
	if (err)
		return err;
	for (i = rxc; i < old; i++) {
		if (up)
			page_pool_destroy(tn_rq_stop(&priv->rq[i]));
		skb_queue_purge(&priv->rq[i].wire);
	}
	err = netif_set_real_num_rx_queues(dev, rxc);
	if (err)
		rxc = old;
	for (i = old; up && i < rxc; i++) {
		unsigned int bsz = tn_rx_buf_size(dev, i);
		struct page_pool *pp = tn_pool_create(priv, i, bsz);

		if (IS_ERR(pp))
			return PTR_ERR(pp);
		tn_rq_start(&priv->rq[i], pp, bsz);
	}
	if (!netif_is_rxfh_configured(dev)) {
		spin_lock_bh(&priv->lock);
		for (i = 0; i < TN_INDIR_SIZE; i++)
			priv->indir[i] = ethtool_rxfh_indir_default(i, rxc);
		spin_unlock_bh(&priv->lock);
	}
	return err;
}

static u32 tn_get_rxfh_indir_size(struct net_device *dev)
{
	return TN_INDIR_SIZE;
}

static u32 tn_get_rxfh_key_size(struct net_device *dev)
{
	return TN_KEY_SIZE;
}

static int tn_get_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh)
{
	struct tn_priv *priv = netdev_priv(dev);

	rxfh->hfunc = ETH_RSS_HASH_TOP;
	spin_lock_bh(&priv->lock);
	if (rxfh->indir)
		memcpy(rxfh->indir, priv->indir, sizeof(priv->indir));
	if (rxfh->key)
		memcpy(rxfh->key, priv->key, sizeof(priv->key));
	spin_unlock_bh(&priv->lock);
	return 0;
}

static int tn_set_rxfh(struct net_device *dev, struct ethtool_rxfh_param *rxfh,
		       struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);
	int err;

	err = tn_fault(priv, TN_FAIL_RSS_SET);
	if (err)
		return err;
	if (rxfh->hfunc != ETH_RSS_HASH_NO_CHANGE &&
	    rxfh->hfunc != ETH_RSS_HASH_TOP)
		return -EOPNOTSUPP;
	spin_lock_bh(&priv->lock);
	if (rxfh->indir)
		memcpy(priv->indir, rxfh->indir, sizeof(priv->indir));
	if (rxfh->key)
		memcpy(priv->key, rxfh->key, sizeof(priv->key));
	spin_unlock_bh(&priv->lock);
	return 0;
}

/*
 * RSS contexts (ethtool -X IF context new|N ...). The core keeps each one's
 * table and key in its struct ethtool_rxfh_context and allocates the IDs
 * (below rxfh_max_num_contexts); the driver keeps its own copy, by ID, which
 * the steering reads under priv->lock in the peer's xmit (the core's copy is
 * under a mutex and is freed after remove). So the core's per-context private
 * area (rxfh_priv_size) is not used. Each context has its own key
 * (rxfh_per_ctx_key), by default the device's at creation.
 */
static int tn_rss_ctx_check(const struct ethtool_rxfh_param *rxfh,
			    struct netlink_ext_ack *extack)
{
	if (rxfh->rss_context >= TN_RSS_CTX_MAX)
		return -EINVAL;		/* the core stays below rxfh_max_num_contexts */
	if (rxfh->hfunc != ETH_RSS_HASH_NO_CHANGE &&
	    rxfh->hfunc != ETH_RSS_HASH_TOP) {
		NL_SET_ERR_MSG_MOD(extack, "only the Toeplitz hash is supported");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int tn_create_rxfh_context(struct net_device *dev,
				  struct ethtool_rxfh_context *ctx,
				  const struct ethtool_rxfh_param *rxfh,
				  struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);
	struct tn_rss_ctx *c;
	unsigned int i;
	int err;

	err = tn_rss_ctx_check(rxfh, extack);
	if (err)
		return err;
	c = &priv->rss_ctx[rxfh->rss_context];
	spin_lock_bh(&priv->lock);
	for (i = 0; i < TN_INDIR_SIZE; i++)
		c->indir[i] = rxfh->indir ? rxfh->indir[i] :
			ethtool_rxfh_indir_default(i, dev->real_num_rx_queues);
	memcpy(c->key, rxfh->key ?: priv->key, TN_KEY_SIZE);
	/* What the core was not given it takes from @ctx: the defaults. */
	if (!rxfh->indir)
		memcpy(ethtool_rxfh_context_indir(ctx), c->indir, sizeof(c->indir));
	if (!rxfh->key)
		memcpy(ethtool_rxfh_context_key(ctx), c->key, TN_KEY_SIZE);
	set_bit(rxfh->rss_context, priv->rss_ctx_used);
	spin_unlock_bh(&priv->lock);
	ctx->hfunc = ETH_RSS_HASH_TOP;
	return 0;
}

static int tn_modify_rxfh_context(struct net_device *dev,
				  struct ethtool_rxfh_context *ctx,
				  const struct ethtool_rxfh_param *rxfh,
				  struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);
	struct tn_rss_ctx *c;
	int err;

	err = tn_rss_ctx_check(rxfh, extack);
	if (err)
		return err;
	c = &priv->rss_ctx[rxfh->rss_context];
	spin_lock_bh(&priv->lock);
	if (rxfh->indir)
		memcpy(c->indir, rxfh->indir, sizeof(c->indir));
	if (rxfh->key)
		memcpy(c->key, rxfh->key, TN_KEY_SIZE);
	spin_unlock_bh(&priv->lock);
	return 0;
}

static int tn_remove_rxfh_context(struct net_device *dev,
				  struct ethtool_rxfh_context *ctx,
				  u32 rss_context,
				  struct netlink_ext_ack *extack)
{
	struct tn_priv *priv = netdev_priv(dev);
	unsigned int i;

	if (rss_context >= TN_RSS_CTX_MAX)
		return -EINVAL;
	spin_lock_bh(&priv->lock);
	/*
	 * A rule still steering into it: refused, as 7.x's core does before it
	 * asks (ethtool_check_rss_ctx_busy); 6.12's does not check. When the
	 * device goes away (netdev_rss_contexts_free) such rules go with it.
	 */
	for_each_set_bit(i, priv->rule_used, TN_MAX_RULES) {
		if (!(priv->rules[i].flow_type & FLOW_RSS) ||
		    priv->rule_ctx[i] != rss_context)
			continue;
		if (dev->reg_state == NETREG_REGISTERED) {
			spin_unlock_bh(&priv->lock);
			NL_SET_ERR_MSG_FMT_MOD(extack,
					       "RSS context %u is used by ntuple rule %u",
					       rss_context, i);
			return -EBUSY;
		}
		clear_bit(i, priv->rule_used);
	}
	clear_bit(rss_context, priv->rss_ctx_used);
	spin_unlock_bh(&priv->lock);
	return 0;
}

static int tn_get_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd,
			u32 *rule_locs)
{
	struct tn_priv *priv = netdev_priv(dev);
	unsigned int i, n = 0;
	int err = 0;

	spin_lock_bh(&priv->lock);
	switch (cmd->cmd) {
	case ETHTOOL_GRXRINGS:
		cmd->data = dev->real_num_rx_queues;
		break;
	case ETHTOOL_GRXCLSRLCNT:
		cmd->rule_cnt = bitmap_weight(priv->rule_used, TN_MAX_RULES);
		cmd->data = TN_MAX_RULES | RX_CLS_LOC_SPECIAL;
		break;
	case ETHTOOL_GRXCLSRULE:
		if (cmd->fs.location >= TN_MAX_RULES ||
		    !test_bit(cmd->fs.location, priv->rule_used)) {
			err = -ENOENT;
			break;
		}
		cmd->fs = priv->rules[cmd->fs.location];
		if (cmd->fs.flow_type & FLOW_RSS)
			cmd->rss_context = priv->rule_ctx[cmd->fs.location];
		break;
	case ETHTOOL_GRXCLSRLALL:
		for_each_set_bit(i, priv->rule_used, TN_MAX_RULES) {
			if (n == cmd->rule_cnt) {
				err = -EMSGSIZE;
				break;
			}
			rule_locs[n++] = i;
		}
		cmd->rule_cnt = n;
		cmd->data = TN_MAX_RULES;
		break;
	default:
		err = -EOPNOTSUPP;
	}
	spin_unlock_bh(&priv->lock);
	return err;
}

#if TN_KERNEL_7
static u32 tn_get_rx_ring_count(struct net_device *dev)
{
	return dev->real_num_rx_queues;
}
#endif

static int tn_add_rule(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	struct ethtool_rx_flow_spec *fs = &cmd->fs;
	struct tn_priv *priv = netdev_priv(dev);
	u32 loc = fs->location, ctx = 0;

	switch (fs->flow_type & ~FLOW_RSS) {
	case TCP_V4_FLOW:
	case UDP_V4_FLOW:
	case TCP_V6_FLOW:
	case UDP_V6_FLOW:
		break;
	default:
		return -EOPNOTSUPP;	/* no FLOW_EXT or other types */
	}
	if (fs->flow_type & FLOW_RSS) {
		/*
		 * The context's table picks the queue. Without cap_rss_rxnfc_adds
		 * the core refuses a ring to add to it; 6.12's core does not check
		 * that the context exists.
		 */
		ctx = cmd->rss_context;
		if (ethtool_get_flow_spec_ring(fs->ring_cookie) ||
		    ethtool_get_flow_spec_ring_vf(fs->ring_cookie) ||
		    (ctx && (ctx >= TN_RSS_CTX_MAX ||
			     !test_bit(ctx, priv->rss_ctx_used))))
			return -EINVAL;
	} else if (fs->ring_cookie != RX_CLS_FLOW_DISC &&
		   (ethtool_get_flow_spec_ring_vf(fs->ring_cookie) ||
		    ethtool_get_flow_spec_ring(fs->ring_cookie) >=
		    dev->real_num_rx_queues)) {
		return -EINVAL;
	}

	if (loc == RX_CLS_LOC_ANY || loc == RX_CLS_LOC_FIRST) {
		loc = find_first_zero_bit(priv->rule_used, TN_MAX_RULES);
	} else if (loc == RX_CLS_LOC_LAST) {
		loc = TN_MAX_RULES;
		while (loc && test_bit(loc - 1, priv->rule_used))
			loc--;
		loc = loc ? loc - 1 : TN_MAX_RULES;
	}
	if (loc >= TN_MAX_RULES)
		return fs->location & RX_CLS_LOC_SPECIAL ? -ENOSPC : -EINVAL;
	fs->location = loc;
	priv->rules[loc] = *fs;
	priv->rule_ctx[loc] = ctx;
	set_bit(loc, priv->rule_used);
	return 0;
}

static int tn_set_rxnfc(struct net_device *dev, struct ethtool_rxnfc *cmd)
{
	struct tn_priv *priv = netdev_priv(dev);
	int err = 0;

	if (cmd->cmd == ETHTOOL_SRXCLSRLINS)
		err = tn_fault(priv, TN_FAIL_NTUPLE_INSERT);
	else if (cmd->cmd == ETHTOOL_SRXCLSRLDEL)
		err = tn_fault(priv, TN_FAIL_NTUPLE_DELETE);
	if (err)
		return err;
	spin_lock_bh(&priv->lock);
	switch (cmd->cmd) {
	case ETHTOOL_SRXCLSRLINS:
		err = tn_add_rule(dev, cmd);
		break;
	case ETHTOOL_SRXCLSRLDEL:
		if (cmd->fs.location >= TN_MAX_RULES ||
		    !test_and_clear_bit(cmd->fs.location, priv->rule_used))
			err = -ENOENT;
		break;
	default:
		err = -EOPNOTSUPP;
	}
	spin_unlock_bh(&priv->lock);
	return err;
}

/*
 * Per-queue RX counters (ethtool -S: rx_queue_N_packets, rx_queue_N_bytes),
 * for every queue the device has: they show which queue the steering chose.
 */
static int tn_get_sset_count(struct net_device *dev, int sset)
{
	return sset == ETH_SS_STATS ? 2 * dev->num_rx_queues : -EOPNOTSUPP;
}

static void tn_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	unsigned int i;

	if (sset != ETH_SS_STATS)
		return;
	for (i = 0; i < dev->num_rx_queues; i++) {
		ethtool_sprintf(&data, "rx_queue_%u_packets", i);
		ethtool_sprintf(&data, "rx_queue_%u_bytes", i);
	}
}

static void tn_get_ethtool_stats(struct net_device *dev,
				 struct ethtool_stats *stats, u64 *data)
{
	struct tn_priv *priv = netdev_priv(dev);
	unsigned int i, start;

	for (i = 0; i < dev->num_rx_queues; i++) {
		struct tn_rq *rq = &priv->rq[i];

		do {
			start = u64_stats_fetch_begin(&rq->syncp);
			data[2 * i] = u64_stats_read(&rq->packets);
			data[2 * i + 1] = u64_stats_read(&rq->bytes);
		} while (u64_stats_fetch_retry(&rq->syncp, start));
	}
}

static void tn_get_drvinfo(struct net_device *dev, struct ethtool_drvinfo *info)
{
	strscpy(info->driver, "testnic", sizeof(info->driver));
	strscpy(info->bus_info, dev_name(dev->dev.parent), sizeof(info->bus_info));
}

static const struct ethtool_ops tn_ethtool_ops = {
#if TN_KERNEL_7
	.supported_ring_params	= ETHTOOL_RING_USE_TCP_DATA_SPLIT |
				  ETHTOOL_RING_USE_HDS_THRS,
	.op_needs_rtnl		= ETHTOOL_OP_NEEDS_RTNL_SCHANNELS,
	.get_rx_ring_count	= tn_get_rx_ring_count,
#else
	.supported_ring_params	= ETHTOOL_RING_USE_TCP_DATA_SPLIT,
#endif
	.get_drvinfo		= tn_get_drvinfo,
	.get_link		= ethtool_op_get_link,
	.get_sset_count		= tn_get_sset_count,
	.get_strings		= tn_get_strings,
	.get_ethtool_stats	= tn_get_ethtool_stats,
	.get_ringparam		= tn_get_ringparam,
	.set_ringparam		= tn_set_ringparam,
	.get_channels		= tn_get_channels,
	.set_channels		= tn_set_channels,
	.get_rxfh_indir_size	= tn_get_rxfh_indir_size,
	.get_rxfh_key_size	= tn_get_rxfh_key_size,
	.get_rxfh		= tn_get_rxfh,
	.set_rxfh		= tn_set_rxfh,
	.rxfh_per_ctx_key	= 1,
	.rxfh_max_num_contexts	= TN_RSS_CTX_MAX,
	.create_rxfh_context	= tn_create_rxfh_context,
	.modify_rxfh_context	= tn_modify_rxfh_context,
	.remove_rxfh_context	= tn_remove_rxfh_context,
	.get_rxnfc		= tn_get_rxnfc,
	.set_rxnfc		= tn_set_rxnfc,
};

/* ---- the pair ---- */

static struct net_device *tn_create(struct device *parent)
{
	struct net_device *dev;
	struct tn_priv *priv;
	unsigned int i;

	dev = alloc_etherdev_mqs(struct_size(priv, rq, queues), queues, queues);
	if (!dev)
		return NULL;
	SET_NETDEV_DEV(dev, parent);
	dev->netdev_ops = &tn_netdev_ops;
	dev->ethtool_ops = &tn_ethtool_ops;
	dev->queue_mgmt_ops = &tn_queue_ops;
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
	/* No TSO/GSO: every frame fits the MTU, as the RX copy expects. */
	dev->hw_features = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_NTUPLE;
	dev->features = dev->hw_features | NETIF_F_RXCSUM | NETIF_F_HIGHDMA;
	dev->max_mtu = TN_MTU_MAX;
#if TN_KERNEL_7
	/* TX frags may be dma-buf net_iovs: tn_frag_va() reads them. */
	dev->netmem_tx = NETMEM_TX_DMA;
	/* bind-rx checks the core's copy of the setting (dev->cfg), not ours. */
	if (header_split)
		dev->cfg->hds_config = ETHTOOL_TCP_DATA_SPLIT_ENABLED;
#endif
	eth_hw_addr_random(dev);
	netif_carrier_off(dev);

	priv = netdev_priv(dev);
	priv->dev = dev;
	priv->hds = header_split;
	priv->rx_ring = TN_RING_DEF;
	priv->tx_ring = TN_RING_DEF;
	spin_lock_init(&priv->lock);
	spin_lock_init(&priv->fault_lock);
	for (i = 0; i < TN_FAIL_NR; i++)
		priv->faults[i].priv = priv;
	netdev_rss_key_fill(priv->key, sizeof(priv->key));
	for (i = 0; i < TN_INDIR_SIZE; i++)
		priv->indir[i] = ethtool_rxfh_indir_default(i, queues);
	for (i = 0; i < queues; i++) {
		priv->rq[i].priv = priv;
		priv->rq[i].idx = i;
		u64_stats_init(&priv->rq[i].syncp);
		skb_queue_head_init(&priv->rq[i].wire);
		netif_napi_add(dev, &priv->rq[i].napi, tn_poll);
	}
	return dev;
}

static int __init tn_init(void)
{
	struct platform_device_info info = {
		.name = "testnic",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	int err, i;

	if (!queues || queues > TN_MAX_QUEUES)
		return -EINVAL;
	/* The parent device: dma-buf attachments and page pool mappings use it. */
	tn_pdev = platform_device_register_full(&info);
	if (IS_ERR(tn_pdev))
		return PTR_ERR(tn_pdev);
	for (i = 0; i < 2; i++) {
		tn_devs[i] = tn_create(&tn_pdev->dev);
		if (!tn_devs[i]) {
			err = -ENOMEM;
			goto err_free;
		}
	}
	((struct tn_priv *)netdev_priv(tn_devs[0]))->peer = netdev_priv(tn_devs[1]);
	((struct tn_priv *)netdev_priv(tn_devs[1]))->peer = netdev_priv(tn_devs[0]);

	rtnl_lock();
	err = register_netdevice(tn_devs[0]);
	if (!err) {
		err = register_netdevice(tn_devs[1]);
		if (err)
			unregister_netdevice(tn_devs[0]);
	}
	rtnl_unlock();
	if (err)
		goto err_free;
	/* Off by default; a kernel without debugfs just has no knobs. */
	tn_debugfs = debugfs_create_dir("testnic", NULL);
	for (i = 0; i < 2; i++)
		tn_debugfs_add(tn_devs[i]);
	return 0;

err_free:
	for (i = 0; i < 2; i++)
		if (tn_devs[i])
			free_netdev(tn_devs[i]);
	platform_device_unregister(tn_pdev);
	return err;
}

static void __exit tn_exit(void)
{
	bool bound = false;
	int i;

	debugfs_remove_recursive(tn_debugfs);
	rtnl_lock();
	for (i = 0; i < 2; i++) {
		bound |= ((struct tn_priv *)netdev_priv(tn_devs[i]))->ever_bound;
		unregister_netdevice(tn_devs[i]);
	}
	rtnl_unlock();
	for (i = 0; i < 2; i++) {
		struct tn_priv *priv = netdev_priv(tn_devs[i]);
		unsigned int q;

		/* The peer's xmit may have queued a frame while this one closed. */
		for (q = 0; q < tn_devs[i]->num_rx_queues; q++)
			skb_queue_purge(&priv->rq[q].wire);
		free_netdev(tn_devs[i]);
	}
	/*
	 * A dma-buf binding outlives the netdev: net/core/devmem.c frees it when
	 * its netlink socket closes and its last fragment comes back, and then
	 * detaches the dma-buf from our parent device. Nothing tells the driver
	 * when, so after any binding the (small) device structure stays until
	 * reboot rather than risk a use after free.
	 */
	if (bound) {
		get_device(&tn_pdev->dev);
		pr_info("testnic: a dma-buf was bound; keeping %s's device structure\n",
			dev_name(&tn_pdev->dev));
	}
	platform_device_unregister(tn_pdev);
}

module_init(tn_init);
module_exit(tn_exit);

MODULE_DESCRIPTION("Software NIC pair for devmem TCP tests (DMA emulated by CPU copy)");
MODULE_LICENSE("GPL");
