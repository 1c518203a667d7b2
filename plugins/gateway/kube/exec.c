/*
 * exec.c - `activity`: the podman backend's activity script, run in the
 * workspace container through the API's exec, which speaks WebSocket
 * (v4.channel.k8s.io: each message's first byte is its channel).
 * libcurl makes and verifies the TLS connection (CONNECT_ONLY); the
 * upgrade request and the frames are ours.  Nothing is sent but the
 * request and, at the end, a close; the whole exchange is bounded in
 * time and in what is kept.
 */
#define _GNU_SOURCE /* explicit_bzero, memmem */
#include "kube.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#define HEADERS_MAX (16u * 1024)
#define FRAME_MAX (KUBE_EXEC_OUTPUT_MAX + 16)

/* The podman backend's script: only regular files, the first 64, 4 KiB
 * each, all under timeout (the directory is the workspace user's). */
static const char activity_script[] =
	"timeout -k 1 5 sh -c 'cd \"$1\" 2>/dev/null || exit 0\n"
	"if [ -e hold ] || [ -L hold ]; then echo hold; exit 0; fi\n"
	"n=0\n"
	"for f in ./*.json; do\n"
	"[ -f \"$f\" ] && [ ! -L \"$f\" ] || continue\n"
	"n=$((n + 1)); [ $n -le 64 ] || break\n"
	"head -c 4096 -- \"$f\" 2>/dev/null; echo\n"
	"done' sh \"$1\"; exit 0";

struct conn {
	CURL *c;
	curl_socket_t fd;
	long long deadline_ms;
};

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(struct conn *cn, short events) {
	struct pollfd p = { .fd = cn->fd, .events = events };
	long long left = cn->deadline_ms - now_ms();
	int rc;

	if (left <= 0) {
		return -1;
	}
	while ((rc = poll(&p, 1, (int)left)) < 0 && errno == EINTR) {
	}
	return rc > 0 ? 0 : -1;
}

static int send_all(struct conn *cn, const void *data, size_t len) {
	const char *p = data;
	while (len > 0) {
		size_t n = 0;
		CURLcode rc = curl_easy_send(cn->c, p, len, &n);
		if (rc == CURLE_AGAIN) {
			if (wait_fd(cn, POLLOUT) != 0) {
				return -1;
			}
			continue;
		}
		if (rc != CURLE_OK) {
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Some bytes into buf: their number, 0 at EOF, -1 on error or time out.
 * TLS may hold decrypted bytes the socket no longer shows: recv first. */
static long recv_some(struct conn *cn, unsigned char *buf, size_t room) {
	for (;;) {
		size_t n = 0;
		CURLcode rc = curl_easy_recv(cn->c, buf, room, &n);
		if (rc == CURLE_OK) {
			return (long)n;
		}
		if (rc != CURLE_AGAIN || wait_fd(cn, POLLIN) != 0) {
			return -1;
		}
	}
}

static const char *header(const char *head, const char *name, char *out, size_t outlen) {
	const char *p = strstr(head, "\r\n");
	size_t nl = strlen(name);

	while (p != NULL && p[2] != '\r') {
		const char *line = p + 2, *eol = strstr(line, "\r\n");
		if (eol == NULL) {
			break;
		}
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t n;
			while (*v == ' ' || *v == '\t') {
				v++;
			}
			n = (size_t)(eol - v);
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
				n--;
			}
			if (n >= outlen) {
				return NULL;
			}
			memcpy(out, v, n);
			out[n] = '\0';
			return out;
		}
		p = eol;
	}
	return NULL;
}

struct streams {
	char *out;
	size_t outlen;
	char err[KUBE_MESSAGE_MAX + 1];
	char status[4096];
	size_t statuslen;
	int channel;    /* of the message being read (continuations have none) */
};

static int take_frame(struct streams *s, const struct ws_frame *f, char *why, size_t whylen) {
	const unsigned char *p = f->payload;
	size_t n = f->len;

	if (f->opcode == 1 || f->opcode == 2) {
		if (n == 0) {
			return 0;
		}
		s->channel = p[0];
		p++;
		n--;
	}
	if (s->channel == 1) {
		if (s->outlen + n > KUBE_EXEC_OUTPUT_MAX) {
			snprintf(why, whylen, "the activity script's output is larger than %u bytes",
				KUBE_EXEC_OUTPUT_MAX);
			return -1;
		}
		memcpy(s->out + s->outlen, p, n);
		s->outlen += n;
	} else if (s->channel == 2) {
		size_t have = strlen(s->err), i;
		for (i = 0; i < n && have + 1 < sizeof(s->err); i++) {
			s->err[have++] = p[i] < ' ' || p[i] >= 0x7f ? ' ' : (char)p[i];
		}
		s->err[have] = '\0';
	} else if (s->channel == 3) {
		if (s->statuslen + n >= sizeof(s->status)) {
			snprintf(why, whylen, "the exec's status is too long");
			return -1;
		}
		memcpy(s->status + s->statuslen, p, n);
		s->statuslen += n;
		s->status[s->statuslen] = '\0';
	}
	return 0;
}

/* The frames until close or EOF: 0, or -1 with why. */
static int frames(struct conn *cn, unsigned char *buf, size_t have, struct streams *s,
		char *why, size_t whylen) {
	unsigned char mask[4] = { 0 }, reply[131];
	size_t cap = FRAME_MAX + 16;

	for (;;) {
		struct ws_frame f;
		long used = ws_frame_parse(buf, have, FRAME_MAX, &f, why, whylen);
		long got;

		if (used < 0) {
			return -1;
		}
		if (used > 0) {
			if (f.opcode == 8) {
				/* answered with a (masked) close of our own */
				getrandom(mask, sizeof(mask), 0);
				send_all(cn, reply, ws_client_frame(8, f.payload, f.len >= 2 ? 2 : 0, mask,
					reply, sizeof(reply)));
				return 0;
			}
			if (f.opcode == 9) {
				getrandom(mask, sizeof(mask), 0);
				if (send_all(cn, reply, ws_client_frame(10, f.payload, f.len, mask, reply,
						sizeof(reply))) != 0) {
					snprintf(why, whylen, "the exec's connection broke");
					return -1;
				}
			} else if (f.opcode <= 2 && take_frame(s, &f, why, whylen) != 0) {
				return -1;
			}
			memmove(buf, buf + used, have - (size_t)used);
			have -= (size_t)used;
			continue;
		}
		got = recv_some(cn, buf + have, cap - have);
		if (got == 0) {
			return 0;
		}
		if (got < 0) {
			snprintf(why, whylen, now_ms() >= cn->deadline_ms ? "the exec took longer than "
				"%d s" : "the exec's connection broke", KUBE_EXEC_TIMEOUT_MS / 1000);
			return -1;
		}
		have += (size_t)got;
	}
}

static int random_key(char *out, size_t outlen) {
	unsigned char raw[16];
	char *b64;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)
			|| (b64 = kube_base64(raw, sizeof(raw))) == NULL) {
		return -1;
	}
	snprintf(out, outlen, "%s", b64);
	free(b64);
	return 0;
}

/* One attempt: 0 done, 1 answered 401 (read the token again), -1 failed. */
static int attempt(struct kube *k, const char *pod, const char *path, struct streams *s,
		char *why, size_t whylen) {
	char url[4096], host[512], key[40], accept[64], want[64], got[128];
	char *req = NULL;
	unsigned char *buf = NULL;
	size_t have = 0, reqlen;
	struct conn cn = { .deadline_ms = now_ms() + kube_left_ms(k, KUBE_EXEC_TIMEOUT_MS) };
	const char *h = k->api + strlen("https://"), *end, *base;
	char *body;
	long status = 0;
	int rc = -1;
	CURLcode e;

	/* WS_KUBE_API may have a path (an API behind a proxy): the request's
	 * target is that path and the request's own, as for every request */
	snprintf(url, sizeof(url), "%s%s", k->api, path);
	end = strchr(h, '/');
	snprintf(host, sizeof(host), "%.*s", (int)(end ? (size_t)(end - h) : strlen(h)), h);
	base = end ? end : "";
	if (random_key(key, sizeof(key)) != 0 || ws_accept_for(key, want, sizeof(want)) != 0) {
		snprintf(why, whylen, "no random bytes for the WebSocket key");
		return -1;
	}
	if ((cn.c = kube_easy(k, url, why, whylen)) == NULL) {
		return -1;
	}
	curl_easy_setopt(cn.c, CURLOPT_CONNECT_ONLY, 1L);
	/* an upgrade is HTTP/1.1's */
	curl_easy_setopt(cn.c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (cn.deadline_ms <= now_ms()) {
		snprintf(why, whylen, "GET pods/%s/exec: no time left for it", pod);
		goto out;
	}
	curl_easy_setopt(cn.c, CURLOPT_TIMEOUT_MS, (long)(cn.deadline_ms - now_ms()));
	curl_easy_setopt(cn.c, CURLOPT_CONNECTTIMEOUT_MS, (long)kube_left_ms(k, 5000));
	if (k->proxy[0]) {
		curl_easy_setopt(cn.c, CURLOPT_HTTPPROXYTUNNEL, 1L);
	}
	if ((e = curl_easy_perform(cn.c)) != CURLE_OK
			|| (e = curl_easy_getinfo(cn.c, CURLINFO_ACTIVESOCKET, &cn.fd)) != CURLE_OK) {
		snprintf(why, whylen, "GET %s: %s", k->api, curl_easy_strerror(e));
		goto out;
	}
	if (kube_read_token(k, why, whylen) != 0) {
		goto out;
	}
	reqlen = strlen(base) + strlen(path) + strlen(host) + strlen(k->token) + 512;
	if ((req = malloc(reqlen)) == NULL || (buf = malloc(FRAME_MAX + 32)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	reqlen = (size_t)snprintf(req, reqlen, "GET %s%s HTTP/1.1\r\nHost: %s\r\n"
		"Authorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n"
		"Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n", base, path, host, k->token,
		key);
	rc = send_all(&cn, req, reqlen);
	explicit_bzero(req, reqlen);
	if (rc != 0) {
		snprintf(why, whylen, "GET pods/%s/exec: the request could not be sent", pod);
		rc = -1;
		goto out;
	}
	rc = -1;
	/* the answer's head; what follows it is frames (or an error's body) */
	while ((body = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
		long n = have < HEADERS_MAX ? recv_some(&cn, buf + have, HEADERS_MAX - have) : -1;
		if (n <= 0) {
			snprintf(why, whylen, "GET pods/%s/exec: no answer", pod);
			goto out;
		}
		have += (size_t)n;
	}
	body += 4;
	buf[body - (char *)buf - 2] = '\0';
	if (sscanf((char *)buf, "HTTP/1.%*[01] %ld", &status) != 1) {
		snprintf(why, whylen, "GET pods/%s/exec: not an HTTP answer", pod);
		goto out;
	}
	if (status != 101) {
		size_t blen = have - (size_t)(body - (char *)buf);
		size_t room = FRAME_MAX - (size_t)(body - (char *)buf), want_len = 0;
		char exec_name[200], clen[32];
		long n;
		/* the error's Status: its Content-Length (the server may keep the
		 * connection open), or until it closes, within the time and the buffer */
		if (header((char *)buf, "Content-Length", clen, sizeof(clen)) != NULL
				&& clen[0] >= '0' && clen[0] <= '9') {
			want_len = (size_t)strtoul(clen, NULL, 10);
		}
		if (want_len == 0 || want_len > room) {
			want_len = room;
		}
		while (status != 401 && blen < want_len
				&& (n = recv_some(&cn, (unsigned char *)body + blen, want_len - blen)) > 0) {
			blen += (size_t)n;
		}
		/* the pod was there a moment ago (activity looked): a 404 is the
		 * server's to explain */
		if (status == 401) {
			rc = 1;
		} else {
			snprintf(exec_name, sizeof(exec_name), "%s/exec", pod);
			kube_error_text(why, whylen, "GET", "pods", exec_name, status, body, blen,
				k->token);
		}
		goto out;
	}
	if (header((char *)buf, "Sec-WebSocket-Accept", accept, sizeof(accept)) == NULL
			|| strcmp(accept, want) != 0) {
		snprintf(why, whylen, "GET pods/%s/exec: a WebSocket answer with a wrong "
			"Sec-WebSocket-Accept", pod);
		goto out;
	}
	if (header((char *)buf, "Sec-WebSocket-Protocol", got, sizeof(got)) == NULL
			|| strcmp(got, "v4.channel.k8s.io") != 0) {
		snprintf(why, whylen, "GET pods/%s/exec: the server did not agree to "
			"v4.channel.k8s.io", pod);
		goto out;
	}
	have -= (size_t)(body - (char *)buf);
	memmove(buf, body, have);
	rc = frames(&cn, buf, have, s, why, whylen) == 0 ? 0 : -1;
out:
	free(req);
	free(buf);
	curl_easy_cleanup(cn.c);
	return rc;
}

int kube_exec_activity(struct kube *k, const char *object, char **out, size_t *len,
		char *why, size_t whylen) {
	char pod[160], path[2048], query[1600], *script;
	struct streams s;
	cJSON *st;
	const cJSON *status, *message;
	int rc = -1, i;
	CURL *c = curl_easy_init();

	memset(&s, 0, sizeof(s));
	snprintf(pod, sizeof(pod), "%s-0", object);
	script = c ? curl_easy_escape(c, activity_script, 0) : NULL;
	if (script == NULL || (s.out = malloc(KUBE_EXEC_OUTPUT_MAX + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	snprintf(query, sizeof(query), "container=workspace&stdout=true&stderr=true&command=sh"
		"&command=-c&command=%s&command=sh&command=%%2Fvar%%2Flib%%2Fws-activity", script);
	if (kube_path(k, REQ_EXEC_POD, pod, query, path, sizeof(path)) != 0) {
		snprintf(why, whylen, "the exec's URL is too long");
		goto out;
	}
	for (i = 0; i < 2 && (rc = attempt(k, pod, path, &s, why, whylen)) == 1; i++) {
		s.outlen = 0;
	}
	if (rc == 1) {
		snprintf(why, whylen, "GET pods/%s/exec: 401 Unauthorized", pod);
		rc = -1;
	}
	if (rc != 0) {
		goto out;
	}
	/* v4: the last word is a metav1.Status on channel 3; without it the
	 * output may be cut short, and a partial answer could stop a
	 * workspace in use */
	if (s.statuslen == 0) {
		snprintf(why, whylen, "exec in pod %s: the exec ended without a status", pod);
		rc = -1;
		goto out;
	}
	st = cJSON_ParseWithLength(s.status, s.statuslen);
	status = cJSON_GetObjectItemCaseSensitive(st, "status");
	message = cJSON_GetObjectItemCaseSensitive(st, "message");
	if (!(cJSON_IsString(status)
			&& strcmp(status->valuestring, "Success") == 0)) {
		char m[KUBE_MESSAGE_MAX + 1];
		snprintf(m, sizeof(m), "%s", cJSON_IsString(message) ? message->valuestring
			: s.err[0] ? s.err : "failed");
		for (i = 0; m[i]; i++) {
			m[i] = m[i] < ' ' ? ' ' : m[i];
		}
		snprintf(why, whylen, "exec in pod %s: %s", pod, m);
		rc = -1;
	}
	cJSON_Delete(st);
	if (rc == 0) {
		s.out[s.outlen] = '\0';
		*out = s.out;
		*len = s.outlen;
		s.out = NULL;
	}
out:
	curl_free(script);
	curl_easy_cleanup(c);
	free(s.out);
	return rc;
}
