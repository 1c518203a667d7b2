/*
 * api.c - the requests to the API server: one table says what each can
 * be (method, path, the RBAC verbs it needs), and `requests` prints that
 * same table, so the Role the chart grants is checked against what the
 * code really asks.  HTTPS only, verified against the service account's
 * CA; the token is read again for every request (projected tokens
 * rotate) and once more on a 401.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

const struct kube_req_def kube_requests[REQ_COUNT] = {
	[REQ_GET_STS] = { "GET", { "get", NULL }, "apps", "statefulsets", NULL, 1 },
	[REQ_LIST_STS] = { "GET", { "list", NULL }, "apps", "statefulsets", NULL, 0 },
	[REQ_CREATE_STS] = { "POST", { "create", NULL }, "apps", "statefulsets", NULL, 0 },
	[REQ_PATCH_STS] = { "PATCH", { "patch", NULL }, "apps", "statefulsets", NULL, 1 },
	[REQ_DELETE_STS] = { "DELETE", { "delete", NULL }, "apps", "statefulsets", NULL, 1 },
	[REQ_GET_POD] = { "GET", { "get", NULL }, "", "pods", NULL, 1 },
	[REQ_WATCH_POD] = { "GET", { "watch", NULL }, "", "pods", NULL, 0 },
	/* a WebSocket exec is a GET: authorized as create since Kubernetes
	 * 1.30, as get before */
	[REQ_EXEC_POD] = { "GET", { "create", "get" }, "", "pods", "exec", 1 },
	[REQ_CREATE_SECRET] = { "POST", { "create", NULL }, "", "secrets", NULL, 0 },
	[REQ_PATCH_SECRET] = { "PATCH", { "patch", NULL }, "", "secrets", NULL, 1 },
	[REQ_LIST_PVC] = { "GET", { "list", NULL }, "", "persistentvolumeclaims", NULL, 0 },
	[REQ_DELETE_PVC] = { "DELETE", { "delete", NULL }, "", "persistentvolumeclaims", NULL, 1 },
};

long long kube_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long kube_left_ms(const struct kube *k, long long wanted) {
	long long left;

	if (k->deadline_ms == 0) {
		return wanted;
	}
	left = k->deadline_ms - kube_now_ms();
	return left < wanted ? left : wanted;
}

static int by_text(const void *a, const void *b) {
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void kube_print_requests(void) {
	char lines[REQ_COUNT * 2][128];
	const char *sorted[REQ_COUNT * 2];
	size_t n = 0, i, v;

	for (i = 0; i < REQ_COUNT; i++) {
		const struct kube_req_def *d = &kube_requests[i];
		for (v = 0; v < 2 && d->verbs[v] != NULL; v++) {
			snprintf(lines[n], sizeof(lines[n]), "%s %s %s%s%s", d->verbs[v],
				d->group[0] ? d->group : "core", d->resource, d->subresource ? "/" : "",
				d->subresource ? d->subresource : "");
			sorted[n] = lines[n];
			n++;
		}
	}
	qsort(sorted, n, sizeof(sorted[0]), by_text);
	for (i = 0; i < n; i++) {
		if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0) {
			printf("%s\n", sorted[i]);
		}
	}
}

void kube_resp_free(struct kube_resp *r) {
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int kube_path(const struct kube *k, enum kube_req req, const char *name, const char *query,
		char *out, size_t outlen) {
	const struct kube_req_def *d = &kube_requests[req];
	int n = snprintf(out, outlen, "%s%s%s/namespaces/%s/%s%s%s%s%s%s%s",
		d->group[0] ? "/apis/" : "/api", d->group, d->group[0] ? "/v1" : "/v1", k->ns,
		d->resource, d->named ? "/" : "", d->named ? name : "", d->subresource ? "/" : "",
		d->subresource ? d->subresource : "", query ? "?" : "", query ? query : "");
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int kube_read_token(struct kube *k, char *why, size_t whylen) {
	char *text = NULL;
	size_t len, i;

	if (kube_read_file(k->token_file, KUBE_TOKEN_MAX - 1, 0, &text, &len, why, whylen) != 0) {
		return -1;
	}
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) {
		len--;
	}
	/* it goes into a header line: nothing that could end or split it */
	for (i = 0; i < len; i++) {
		if ((unsigned char)text[i] <= ' ' || (unsigned char)text[i] >= 0x7f) {
			break;
		}
	}
	if (len == 0 || i < len) {
		snprintf(why, whylen, "the token file %s is empty or not one token", k->token_file);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	/* a real one is hundreds of characters; a short one would also make
	 * the redaction of error messages take away innocent text */
	if (len < KUBE_TOKEN_MIN) {
		snprintf(why, whylen, "the token in %s is too short to be a ServiceAccount token",
			k->token_file);
		explicit_bzero(text, len);
		free(text);
		return -1;
	}
	memcpy(k->token, text, len);
	k->token[len] = '\0';
	explicit_bzero(text, len);
	free(text);
	return 0;
}

static const char *reason_phrase(long status) {
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "error";
	}
}

/* message with every copy of the token as "***", and a cut-off start of
 * it at the end too, into out (at most outlen - 1 characters: a token of
 * any length, even "*", neither grows nor loops it). */
static void redact(const char *message, const char *token, char *out, size_t outlen) {
	size_t tl = token != NULL ? strlen(token) : 0, o = 0, n, i;
	const char *p = message;

	if (outlen == 0) {
		return;
	}
	while (*p != '\0' && o + 1 < outlen) {
		if (tl > 0 && strncmp(p, token, tl) == 0) {
			for (i = 0; i < 3 && o + 1 < outlen; i++) {
				out[o++] = '*';
			}
			p += tl;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	/* the longest start of the token that ends the message (8 or more) */
	for (n = tl > 0 ? tl - 1 : 0; n >= 8; n--) {
		if (n <= o && memcmp(out + o - n, token, n) == 0) {
			snprintf(out + o - n, outlen - (o - n), "***");
			break;
		}
	}
}

void kube_error_text(char *out, size_t outlen, const char *method, const char *resource,
		const char *name, long status, const char *body, size_t len, const char *token) {
	char message[KUBE_MESSAGE_MAX + 1] = "", clean[KUBE_MESSAGE_MAX + 1] = "";
	cJSON *st = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
	size_t i;

	if (cJSON_IsString(m)) {
		const char *t = m->valuestring;
		for (i = 0; t[i] && i < KUBE_MESSAGE_MAX; i++) {
			unsigned char c = (unsigned char)t[i];
			message[i] = c < ' ' || c == 0x7f ? ' ' : (char)c;
		}
		message[i] = '\0';
		/* a server never should, but if one quotes the token back, it
		 * goes no further */
		redact(message, token, clean, sizeof(clean));
	}
	cJSON_Delete(st);
	snprintf(out, outlen, "%s %s%s%s: %ld %s%s%s", method, resource, name ? "/" : "",
		name ? name : "", status, reason_phrase(status), clean[0] ? ": " : "", clean);
}

void kube_fail_resp(const struct kube *k, enum kube_req req, const char *name,
		const struct kube_resp *r, char *why, size_t whylen) {
	const struct kube_req_def *d = &kube_requests[req];
	char full[200];

	/* every PATCH's first op tests the gateway label: when that fails (a
	 * missing label fails it too), the object was taken over after the
	 * look that found it ours, and the API server's message names the
	 * label's path */
	if (strcmp(d->method, "PATCH") == 0 && r->status == 422 && r->body != NULL
			&& strstr(r->body, "ssh-workspace~1gateway") != NULL) {
		snprintf(why, whylen, "%s %s exists and is not managed by this gateway",
			strcmp(d->resource, "secrets") == 0 ? "Secret"
			: strcmp(d->resource, "statefulsets") == 0 ? "StatefulSet" : d->resource,
			name);
		return;
	}
	snprintf(full, sizeof(full), "%s%s%s", name ? name : "", d->subresource ? "/" : "",
		d->subresource ? d->subresource : "");
	kube_error_text(why, whylen, d->method, d->resource, d->named ? full : NULL, r->status,
		r->body, r->len, k->token);
}

void *kube_easy(struct kube *k, const char *url, char *why, size_t whylen) {
	CURL *c = curl_easy_init();

	if (c == NULL) {
		snprintf(why, whylen, "cannot start libcurl");
		return NULL;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK
			/* the environment's https_proxy is not this backend's: only WS_KUBE_PROXY */
			|| curl_easy_setopt(c, CURLOPT_PROXY, k->proxy) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK
			|| curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) != CURLE_OK) {
		snprintf(why, whylen, "libcurl lacks an option this backend needs (https, CA file)");
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
}

struct sink {
	CURL *curl;
	struct kube_resp *r;
	size_t cap;
	int too_big;
	/* a watch: one line at a time to fn */
	int (*fn)(void *arg, const char *line, size_t len);
	void *arg;
	int stopped;    /* fn's 1 or -1 */
};

static size_t take(char *data, size_t size, size_t nmemb, void *userdata) {
	struct sink *s = userdata;
	size_t n = size * nmemb, start = 0, i;
	long code = 0;
	char *grown;

	if (s->r->len + n > s->cap) {
		s->too_big = 1;
		return 0;
	}
	grown = realloc(s->r->body, s->r->len + n + 1);
	if (grown == NULL) {
		s->too_big = 1;
		return 0;
	}
	s->r->body = grown;
	memcpy(s->r->body + s->r->len, data, n);
	s->r->len += n;
	s->r->body[s->r->len] = '\0';
	if (s->fn == NULL) {
		return n;
	}
	/* an answer that is not the stream is kept whole, for the message */
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		return n;
	}
	/* lines go to fn as they complete; a partial one waits for the rest */
	for (i = 0; i < s->r->len; i++) {
		if (s->r->body[i] == '\n') {
			int rc = s->fn(s->arg, s->r->body + start, i - start);
			start = i + 1;
			if (rc != 0) {
				s->stopped = rc;
				return 0;
			}
		}
	}
	memmove(s->r->body, s->r->body + start, s->r->len - start + 1);
	s->r->len -= start;
	return n;
}

/* Performs c with the token as the bearer, the body sent when given. */
static int perform(struct kube *k, CURL *c, const char *method, const char *content_type,
		const char *body, struct sink *s, char *why, size_t whylen) {
	char auth[KUBE_TOKEN_MAX + 32], ctype[96];
	struct curl_slist *h = NULL, *h2;
	CURLcode rc;
	int ok = 1;

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k->token);
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type ? content_type : "");
	if ((h2 = curl_slist_append(h, auth)) == NULL || (h = h2,
			(h2 = curl_slist_append(h, "Accept: application/json")) == NULL)
			/* no 100-continue round trip before a body */
			|| (h = h2, (h2 = curl_slist_append(h, "Expect:")) == NULL)
			|| (h = h2, content_type != NULL && (h2 = curl_slist_append(h, ctype)) == NULL)) {
		ok = 0;
	} else {
		h = h2;
	}
	explicit_bzero(auth, sizeof(auth));
	if (!ok) {
		curl_slist_free_all(h);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	s->curl = c;
	s->stopped = 0;
	s->too_big = 0;
	s->r->status = 0;
	s->r->len = 0;
	rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	/* libcurl copies header lines; the list's copy of the token goes now */
	for (h2 = h; h2 != NULL; h2 = h2->next) {
		explicit_bzero(h2->data, strlen(h2->data));
	}
	curl_slist_free_all(h);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->r->status);
	/* a watch that began is over however it ends: the caller looks again */
	if (rc != CURLE_OK && !(s->fn != NULL && (s->stopped || s->r->status == 200))) {
		if (s->too_big) {
			snprintf(why, whylen, "the answer is larger than %zu bytes", s->cap);
		} else {
			snprintf(why, whylen, "%s (%s)", curl_easy_strerror(rc), k->api);
		}
		return -1;
	}
	return 0;
}

/* "METHOD RESOURCE[/NAME]: " before a transport error */
static void prefix(char *why, size_t whylen, const struct kube_req_def *d, const char *name) {
	char text[512];
	snprintf(text, sizeof(text), "%s", why);
	snprintf(why, whylen, "%s %s%s%s: %s", d->method, d->resource,
		d->named && name ? "/" : "", d->named && name ? name : "", text);
}

static char *json_text(const cJSON *body) {
	return body != NULL ? cJSON_PrintUnformatted(body) : NULL;
}

int kube_call(struct kube *k, enum kube_req req, const char *name, const char *query,
		const cJSON *body, struct kube_resp *r, char *why, size_t whylen) {
	const struct kube_req_def *d = &kube_requests[req];
	char url[2048], path[1500];
	struct sink s = { .r = r, .cap = KUBE_RESPONSE_MAX };
	char *text = json_text(body);
	const char *ctype = NULL;
	CURL *c;
	int attempt, rc = -1;

	memset(r, 0, sizeof(*r));
	if (body != NULL && text == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (body != NULL) {
		ctype = strcmp(d->method, "PATCH") == 0 ? "application/json-patch+json"
			: "application/json";
	}
	if (kube_path(k, req, name, query, path, sizeof(path)) != 0
			|| (size_t)snprintf(url, sizeof(url), "%s%s", k->api, path) >= sizeof(url)) {
		snprintf(why, whylen, "the request's URL is too long");
		free(text);
		return -1;
	}
	if ((c = kube_easy(k, url, why, whylen)) == NULL) {
		free(text);
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		/* its own 20 s, or what is left of the command's time */
		long long left = kube_left_ms(k, 20000);
		kube_resp_free(r);
		if (left <= 0) {
			snprintf(why, whylen, "no time left for it");
			rc = -1;
			break;
		}
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)kube_left_ms(k, 5000));
		if (kube_read_token(k, why, whylen) != 0) {
			rc = -1;
			break;
		}
		rc = perform(k, c, d->method, ctype, text, &s, why, whylen);
		/* a rotated token: the file has the new one by now */
		if (rc != 0 || r->status != 401) {
			break;
		}
	}
	if (rc != 0) {
		prefix(why, whylen, d, name);
	}
	if (rc != 0) {
		kube_resp_free(r);
	} else if (r->body == NULL) {
		r->body = calloc(1, 1);
	}
	curl_easy_cleanup(c);
	free(text);
	return rc;
}

int kube_watch(struct kube *k, enum kube_req req, const char *query, unsigned int timeout_ms,
		int (*fn)(void *arg, const char *line, size_t len), void *arg, char *why, size_t whylen) {
	const struct kube_req_def *d = &kube_requests[req];
	struct kube_resp r = { 0 };
	struct sink s = { .r = &r, .cap = KUBE_EVENT_MAX, .fn = fn, .arg = arg };
	char url[2048], path[1500];
	CURL *c;
	int rc = -1, attempt;

	if (kube_path(k, req, NULL, query, path, sizeof(path)) != 0
			|| (size_t)snprintf(url, sizeof(url), "%s%s", k->api, path) >= sizeof(url)) {
		snprintf(why, whylen, "the request's URL is too long");
		return -1;
	}
	if ((c = kube_easy(k, url, why, whylen)) == NULL) {
		return -1;
	}
	/* the server ends it at timeoutSeconds; this is for one that does not */
	if (kube_left_ms(k, timeout_ms) <= 0) {
		snprintf(why, whylen, "GET %s: no time left for it", d->resource);
		curl_easy_cleanup(c);
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)kube_left_ms(k, timeout_ms));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)kube_left_ms(k, 5000));
	for (attempt = 0; attempt < 2; attempt++) {
		kube_resp_free(&r);
		if (kube_read_token(k, why, whylen) != 0) {
			curl_easy_cleanup(c);
			return -1;
		}
		rc = perform(k, c, d->method, NULL, NULL, &s, why, whylen);
		if (rc != 0 || r.status != 401) {
			break;
		}
	}
	if (rc != 0) {
		prefix(why, whylen, d, NULL);
	}
	curl_easy_cleanup(c);
	if (rc == 0 && s.stopped == 0 && r.status != 200) {
		/* the answer was no stream: it was kept whole, for the message */
		kube_error_text(why, whylen, d->method, d->resource, NULL, r.status, r.body, r.len,
			k->token);
		rc = -1;
	}
	kube_resp_free(&r);
	if (rc != 0) {
		return -1;
	}
	return s.stopped == 1 ? 0 : 1;
}
