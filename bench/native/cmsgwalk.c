// The C baseline for the cmsg-walk benchmark (bench/Devmem.Benchmarks/CmsgWalkBenchmarks.cs): what
// DevmemSocket does after recvmsg(MSG_SOCK_DEVMEM) returns and when the application releases the
// fragments, written as a C program would, step for step the same work:
//
//   receive: walk the control buffer with glibc's CMSG_FIRSTHDR/CMSG_NXTHDR, check every length,
//            turn SCM_DEVMEM_DMABUF into fragments (SCM_DEVMEM_LINEAR counted, others skipped), check
//            the byte total, mark each token held in a bitmap (a token handed out twice is an error);
//   release: clear each token from the bitmap, queue it; at 1024 queued tokens, sort, drop duplicates
//            and cut the tokens into dmabuf_token ranges within the kernel's limits (128 ranges and
//            1024 tokens per SO_DEVMEM_DONTNEED call, net/core/sock.c sock_devmem_dontneed).
//
// The setsockopt(SO_DEVMEM_DONTNEED) itself is replaced by dontneed_stub(), on both sides: it reads
// the ranges as the kernel would and returns how many tokens they cover.
//
// Built by bench/Devmem.Benchmarks.csproj (gcc -O2 -shared) and called once per benchmark invocation
// through a function pointer, so the P/Invoke transition is paid once per few thousand fragments.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

// Debian 12's linux-libc-dev (6.1) predates devmem TCP: the uapi values as ncdevmem.c defines them
// (include/uapi/asm-generic/socket.h, include/uapi/linux/uio.h, 6.12 and later).
#ifndef SO_DEVMEM_LINEAR
#define SO_DEVMEM_LINEAR 78
#define SCM_DEVMEM_LINEAR SO_DEVMEM_LINEAR
#define SO_DEVMEM_DMABUF 79
#define SCM_DEVMEM_DMABUF SO_DEVMEM_DMABUF
#endif

struct dmabuf_cmsg_ {
	uint64_t frag_offset;
	uint32_t frag_size;
	uint32_t frag_token;
	uint32_t dmabuf_id;
	uint32_t flags;
};

struct dmabuf_token_ {
	uint32_t token_start;
	uint32_t token_count;
};

struct fragment {
	uint64_t offset;
	uint32_t dmabuf_id;
	uint32_t length;
	uint32_t token;
};

#define MAX_RANGES_PER_CALL 128   // MAX_DONTNEED_TOKENS
#define MAX_TOKENS_PER_CALL 1024  // MAX_DONTNEED_FRAGS

struct walker {
	uint64_t *held;
	size_t held_words;
	uint32_t pending[MAX_TOKENS_PER_CALL];
	int pending_count;
	struct dmabuf_token_ batch[MAX_RANGES_PER_CALL];
	struct fragment *frags;
	int max_frags;
	int64_t release_calls;
	int64_t tokens_freed;
	int64_t shortfall;
};

struct walker *cmsgwalk_new(int max_frags)
{
	struct walker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->held_words = 64;
	w->held = calloc(w->held_words, sizeof(uint64_t));
	w->frags = calloc((size_t)max_frags, sizeof(struct fragment));
	w->max_frags = max_frags;
	if (!w->held || !w->frags) {
		free(w->held);
		free(w->frags);
		free(w);
		return NULL;
	}
	return w;
}

void cmsgwalk_free(struct walker *w)
{
	if (!w)
		return;
	free(w->held);
	free(w->frags);
	free(w);
}

static int held_add(struct walker *w, uint32_t token)
{
	size_t i = token >> 6;
	if (i >= w->held_words) {
		size_t n = w->held_words * 2 > i + 1 ? w->held_words * 2 : i + 1;
		uint64_t *p = realloc(w->held, n * sizeof(uint64_t));
		if (!p)
			return -1;
		memset(p + w->held_words, 0, (n - w->held_words) * sizeof(uint64_t));
		w->held = p;
		w->held_words = n;
	}
	uint64_t bit = 1ULL << (token & 63);
	if (w->held[i] & bit)
		return 0;
	w->held[i] |= bit;
	return 1;
}

static int held_remove(struct walker *w, uint32_t token)
{
	size_t i = token >> 6;
	uint64_t bit = 1ULL << (token & 63);
	if (i >= w->held_words || !(w->held[i] & bit))
		return 0;
	w->held[i] &= ~bit;
	return 1;
}

// An introspective sort like .NET's ArraySortHelper<T> (median of three, insertion sort below 17
// elements, heap sort past a depth limit), so that both sides sort with the same algorithm and the
// comparison inlined: qsort(3) would call a comparison function per step.
static void insertion_sort(uint32_t *a, int lo, int hi)
{
	for (int i = lo + 1; i <= hi; i++) {
		uint32_t t = a[i];
		int j = i - 1;
		while (j >= lo && a[j] > t) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = t;
	}
}

static void sift_down(uint32_t *a, int i, int n, int lo)
{
	uint32_t d = a[lo + i - 1];
	while (i <= n / 2) {
		int child = 2 * i;
		if (child < n && a[lo + child - 1] < a[lo + child])
			child++;
		if (!(d < a[lo + child - 1]))
			break;
		a[lo + i - 1] = a[lo + child - 1];
		i = child;
	}
	a[lo + i - 1] = d;
}

static void heap_sort(uint32_t *a, int lo, int hi)
{
	int n = hi - lo + 1;
	for (int i = n / 2; i >= 1; i--)
		sift_down(a, i, n, lo);
	for (int i = n; i > 1; i--) {
		uint32_t t = a[lo];
		a[lo] = a[lo + i - 1];
		a[lo + i - 1] = t;
		sift_down(a, 1, i - 1, lo);
	}
}

static inline void swap_if_greater(uint32_t *a, int i, int j)
{
	if (a[i] > a[j]) {
		uint32_t t = a[i];
		a[i] = a[j];
		a[j] = t;
	}
}

static void intro_sort(uint32_t *a, int lo, int hi, int depth)
{
	while (hi > lo) {
		int n = hi - lo + 1;
		if (n <= 16) {
			insertion_sort(a, lo, hi);
			return;
		}
		if (depth == 0) {
			heap_sort(a, lo, hi);
			return;
		}
		depth--;
		int mid = lo + ((hi - lo) >> 1);
		swap_if_greater(a, lo, mid);
		swap_if_greater(a, lo, hi);
		swap_if_greater(a, mid, hi);
		uint32_t pivot = a[mid];
		uint32_t t = a[mid];
		a[mid] = a[hi - 1];
		a[hi - 1] = t;
		int left = lo, right = hi - 1;
		while (left < right) {
			while (a[++left] < pivot)
				;
			while (pivot < a[--right])
				;
			if (left >= right)
				break;
			t = a[left];
			a[left] = a[right];
			a[right] = t;
		}
		if (left != hi - 1) {
			t = a[left];
			a[left] = a[hi - 1];
			a[hi - 1] = t;
		}
		intro_sort(a, left + 1, hi, depth);
		hi = left - 1;
	}
}

#define MAX_BITMAP_WORDS 1024

// Sorted and distinct, as src/Devmem/Receive/TokenRanges.cs SortDistinct: tokens spanning at most one
// 64-bit word per token (and 1024 words) are marked in a bitmap and read back; others are sorted.
static int sort_distinct(uint32_t *t, int n)
{
	if (n == 0)
		return 0;
	uint32_t min = UINT32_MAX, max = 0;
	for (int i = 0; i < n; i++) {
		min = t[i] < min ? t[i] : min;
		max = t[i] > max ? t[i] : max;
	}
	uint64_t words = ((uint64_t)(max - min) >> 6) + 1;
	if (words <= MAX_BITMAP_WORDS && words <= (uint64_t)n) {
		uint64_t bits[MAX_BITMAP_WORDS];
		memset(bits, 0, words * sizeof(uint64_t));
		for (int i = 0; i < n; i++) {
			uint32_t d = t[i] - min;
			bits[d >> 6] |= 1ULL << (d & 63);
		}
		int w = 0;
		for (uint64_t i = 0; i < words; i++) {
			uint64_t word = bits[i];
			uint32_t base = min + ((uint32_t)i << 6);
			while (word) {
				t[w++] = base + (uint32_t)__builtin_ctzll(word);
				word &= word - 1;
			}
		}
		return w;
	}
	int depth = 2 * (32 - __builtin_clz((unsigned)n));
	intro_sort(t, 0, n - 1, depth);
	int w = 1;
	for (int r = 1; r < n; r++) {
		if (t[r] == t[w - 1])
			continue;
		t[w++] = t[r];
	}
	return w;
}

// Stands in for setsockopt(fd, SOL_SOCKET, SO_DEVMEM_DONTNEED, batch, ranges * 8): reads the ranges
// and returns the tokens they cover, as the kernel's return value would be with every token known.
__attribute__((noinline)) static int dontneed_stub(const struct dmabuf_token_ *batch, int ranges)
{
	int freed = 0;
	for (int i = 0; i < ranges; i++)
		freed += (int)batch[i].token_count;
	__asm__ volatile("" : : "r"(batch) : "memory");
	return freed;
}

static int flush(struct walker *w)
{
	int n = sort_distinct(w->pending, w->pending_count);
	int pos = 0, freed_total = 0;
	while (pos < n) {
		int ranges = 0, count_total = 0;
		while (pos < n && ranges < MAX_RANGES_PER_CALL && count_total < MAX_TOKENS_PER_CALL) {
			uint32_t start = w->pending[pos++];
			uint32_t count = 1;
			uint32_t budget = (uint32_t)(MAX_TOKENS_PER_CALL - count_total);
			while (pos < n && count < budget && w->pending[pos] == start + count) {
				count++;
				pos++;
			}
			w->batch[ranges].token_start = start;
			w->batch[ranges].token_count = count;
			ranges++;
			count_total += (int)count;
		}
		int freed = dontneed_stub(w->batch, ranges);
		w->release_calls++;
		freed_total += freed;
		if (freed != count_total)
			w->shortfall += count_total - freed;
	}
	w->pending_count = 0;
	w->tokens_freed += freed_total;
	return freed_total;
}

// One receive: the control buffer the kernel filled (msg_controllen bytes) and the byte count recvmsg
// returned. Returns the number of fragments, or -1 on a malformed buffer or a protocol error.
static int receive_one(struct walker *w, unsigned char *control, size_t controllen, int64_t received)
{
	struct msghdr msg = { .msg_control = control, .msg_controllen = controllen };
	int nfrags = 0, linear = 0, unknown = 0;
	int64_t dmabuf_bytes = 0, linear_bytes = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		size_t left = controllen - (size_t)((unsigned char *)cm - control);
		if (cm->cmsg_len < CMSG_LEN(0) || cm->cmsg_len > left)
			return -1;
		if (cm->cmsg_level != SOL_SOCKET ||
		    (cm->cmsg_type != SCM_DEVMEM_DMABUF && cm->cmsg_type != SCM_DEVMEM_LINEAR)) {
			unknown++;
			continue;
		}
		if (cm->cmsg_len < CMSG_LEN(sizeof(struct dmabuf_cmsg_)))
			return -1;
		struct dmabuf_cmsg_ dc;
		memcpy(&dc, CMSG_DATA(cm), sizeof(dc));
		if (cm->cmsg_type == SCM_DEVMEM_LINEAR) {
			linear++;
			linear_bytes += dc.frag_size;
			continue;
		}
		if (nfrags >= w->max_frags)
			return -1;
		struct fragment *f = &w->frags[nfrags++];
		f->dmabuf_id = dc.dmabuf_id;
		f->offset = dc.frag_offset;
		f->length = dc.frag_size;
		f->token = dc.frag_token;
		dmabuf_bytes += dc.frag_size;
	}
	if ((nfrags > 0 || linear > 0) && dmabuf_bytes + linear_bytes != received)
		return -1;
	for (int i = 0; i < nfrags; i++)
		if (held_add(w, w->frags[i].token) != 1)
			return -1;
	(void)unknown;
	return nfrags;
}

static int release(struct walker *w, int nfrags)
{
	for (int i = 0; i < nfrags; i++) {
		if (!held_remove(w, w->frags[i].token))
			return -1;
		w->pending[w->pending_count++] = w->frags[i].token;
		if (w->pending_count == MAX_TOKENS_PER_CALL)
			flush(w);
	}
	return 0;
}

// Runs `receives` receive+release rounds over control buffers laid out `stride` bytes apart, buffer i
// holding lengths[i] bytes and standing for a recvmsg that returned received[i]. Returns the number of
// fragments handled, or -1 on the first error.
int64_t cmsgwalk_run(struct walker *w, unsigned char *buffers, const int32_t *lengths,
		     const int64_t *received, int32_t stride, int32_t receives)
{
	int64_t total = 0;
	for (int32_t r = 0; r < receives; r++) {
		int n = receive_one(w, buffers + (size_t)r * (size_t)stride, (size_t)lengths[r], received[r]);
		if (n < 0 || release(w, n) < 0)
			return -1;
		total += n;
	}
	return total;
}

int64_t cmsgwalk_tokens_freed(const struct walker *w)
{
	return w->tokens_freed;
}

int64_t cmsgwalk_release_calls(const struct walker *w)
{
	return w->release_calls;
}
