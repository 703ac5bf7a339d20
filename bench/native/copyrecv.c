// The C receiver of the copy-fallback benchmark (scripts/bench.sh copy), the baseline for
// bench/Devmem.CopyReceiver: accepts one connection on 127.0.0.1:PORT and receives with recv(2)
// into a memfd mapped MAP_SHARED (32 MiB, like the C# side's HostMemory), validating each buffer as
// it arrives, until the peer closes; then prints one JSON line (and appends it to --log FILE).
//
// Like the C# copy ring, which hands the most recently released 64 KiB slot out first and takes at
// most 64 slots per receive, each recv asks for up to 4 MiB at the start of the mapping: both sides
// reuse the same cache-warm memory.
//
// --validate ncdevmem: the kernel tool's validate_buffer (7.x, tools/testing/selftests/drivers/net/hw/
//     ncdevmem.c), byte by byte: a seed that starts at 1 and carries over between buffers, the expected
//     byte is the seed or '\n' when it is 0, the seed wraps to 0 at the period; every mismatch is
//     printed, more than 20 fail. (The tool also prints "Validated buffer" per buffer; not done here,
//     so that terminal output does not enter the comparison.)
// --validate memcmp: the same check the way the C# NcdevmemPattern does it: memcmp against the pattern
//     laid out over 4 KiB, the position carried over; mismatching blocks are then walked byte by byte.
// --validate none: no check, for the transport's ceiling.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING (32u << 20)
#define CHUNK (64u * 64u * 1024u)
#define MAX_ERRORS 20

static int period = 7;
static long long errors;

static void mismatch(unsigned expected, unsigned actual, size_t index)
{
	fprintf(stderr, "Failed validation: expected=%u, actual=%u, index=%zu\n", expected, actual, index);
	if (++errors > MAX_ERRORS) {
		fprintf(stderr, "copyrecv: validation failed\n");
		exit(1);
	}
}

static void validate_ncdevmem(const unsigned char *p, size_t size)
{
	static unsigned char seed = 1;
	for (size_t i = 0; i < size; i++) {
		unsigned char expected = seed ? seed : '\n';
		if (p[i] != expected)
			mismatch(expected, p[i], i);
		seed++;
		if (seed == period)
			seed = 0;
	}
}

static unsigned char *pattern;
static size_t pattern_len, pattern_pos;

static void validate_memcmp(const unsigned char *p, size_t size)
{
	size_t done = 0;
	while (done < size) {
		size_t n = pattern_len - pattern_pos;
		if (n > size - done)
			n = size - done;
		const unsigned char *expected = pattern + pattern_pos;
		if (memcmp(p + done, expected, n) != 0)
			for (size_t i = 0; i < n; i++)
				if (p[done + i] != expected[i])
					mismatch(expected[i], p[done + i], done + i);
		done += n;
		pattern_pos = (pattern_pos + n) % pattern_len;
	}
}

static void validate_none(const unsigned char *p, size_t size)
{
	(void)p;
	(void)size;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: copyrecv PORT BYTES [--validate ncdevmem|memcmp|none] [--log FILE]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	long long expected_total = atoll(argv[2]);
	const char *mode = "ncdevmem", *log = NULL;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--validate"))
			mode = argv[i + 1];
		else if (!strcmp(argv[i], "--log"))
			log = argv[i + 1];
		else {
			fprintf(stderr, "copyrecv: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	void (*validate)(const unsigned char *, size_t);
	if (!strcmp(mode, "ncdevmem"))
		validate = validate_ncdevmem;
	else if (!strcmp(mode, "memcmp"))
		validate = validate_memcmp;
	else if (!strcmp(mode, "none"))
		validate = validate_none;
	else {
		fprintf(stderr, "copyrecv: --validate takes ncdevmem, memcmp or none\n");
		return 2;
	}

	pattern_len = (size_t)period * ((4096 + (size_t)period - 1) / (size_t)period);
	pattern = malloc(pattern_len);
	if (!pattern)
		return 1;
	for (size_t i = 0; i < pattern_len; i++) {
		unsigned seed = (unsigned)((1 + i) % (size_t)period);
		pattern[i] = seed ? (unsigned char)seed : '\n';
	}

	int mfd = memfd_create("copyrecv", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, RING) < 0) {
		perror("copyrecv: memfd");
		return 1;
	}
	unsigned char *map = mmap(NULL, RING, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (map == MAP_FAILED) {
		perror("copyrecv: mmap");
		return 1;
	}

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0) {
		perror("copyrecv: bind/listen");
		return 1;
	}
	int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		perror("copyrecv: accept");
		return 1;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long long total = 0, receives = 0;
	for (;;) {
		ssize_t n = recv(fd, map, CHUNK, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("copyrecv: recv");
			return 1;
		}
		if (n == 0)
			break;
		validate(map, (size_t)n);
		total += n;
		receives++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	char line[256];
	snprintf(line, sizeof(line),
		 "{\"receiver\":\"c-%s\",\"bytes\":%lld,\"receives\":%lld,\"seconds\":%.4f,\"gb_per_s\":%.3f,\"validation_errors\":%lld}\n",
		 mode, total, receives, s, (double)total / s / 1e9, errors);
	fputs(line, stdout);
	if (log) {
		FILE *f = fopen(log, "a");
		if (f) {
			fputs(line, f);
			fclose(f);
		}
	}
	close(fd);
	close(ls);
	if (total != expected_total) {
		fprintf(stderr, "copyrecv: received %lld of %lld bytes\n", total, expected_total);
		return 1;
	}
	return 0;
}
