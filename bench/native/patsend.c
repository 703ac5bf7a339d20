// The sender of the copy-fallback benchmark (scripts/bench.sh copy): connects to HOST:PORT and sends
// BYTES bytes of ncdevmem's validation pattern with period PERIOD (default 7): 1, 2, ..., PERIOD-1,
// '\n', repeated, which is what `yes $(printf '\x01\x02\x03\x04\x05\x06')` feeds ncdevmem -v 7 (the
// 7.x tool; tools/testing/selftests/drivers/net/hw/ncdevmem.c validate_buffer). Then it shuts down
// its sending side and exits. The same binary feeds every receiver, so the sender is identical.
//
// It does as little as a sender can: the pattern is laid out once in a buffer a whole number of
// periods long and sent from there, so sending costs one copy in the kernel and nothing in user space.
// It retries the connection (every millisecond, for 10 s) while the receiver is still starting.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: patsend HOST PORT BYTES [PERIOD]\n");
		return 2;
	}
	const char *host = argv[1];
	int port = atoi(argv[2]);
	long long total = atoll(argv[3]);
	int period = argc > 4 ? atoi(argv[4]) : 7;
	if (port <= 0 || port > 65535 || total < 0 || period < 2 || period > 256) {
		fprintf(stderr, "patsend: bad arguments\n");
		return 2;
	}

	size_t len = (size_t)period * ((256 * 1024) / (size_t)period);
	unsigned char *buf = malloc(len);
	if (!buf) {
		perror("patsend: malloc");
		return 1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned seed = (unsigned)((1 + i) % (size_t)period);
		buf[i] = seed ? (unsigned char)seed : '\n';
	}

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "patsend: bad IPv4 address %s\n", host);
		return 2;
	}
	int fd = -1;
	for (int attempt = 0;; attempt++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			perror("patsend: socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		int e = errno;
		close(fd);
		if (e != ECONNREFUSED || attempt >= 10000) {
			fprintf(stderr, "patsend: connect %s:%d: %s\n", host, port, strerror(e));
			return 1;
		}
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}

	long long sent = 0;
	size_t pos = 0;
	while (sent < total) {
		size_t n = len - pos;
		if ((long long)n > total - sent)
			n = (size_t)(total - sent);
		ssize_t r = send(fd, buf + pos, n, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("patsend: send");
			return 1;
		}
		sent += r;
		pos += (size_t)r;
		if (pos == len)
			pos = 0;
	}
	shutdown(fd, SHUT_WR);
	close(fd);
	free(buf);
	return 0;
}
