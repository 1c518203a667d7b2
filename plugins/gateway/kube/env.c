/*
 * env.c - ws-gateway-kube's settings, all from the environment (the
 * gateway passes its own on), and the small files it reads.  Every value
 * is checked here, once: they end up in URLs, label selectors and paths.
 */
#include "kube.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

int kube_label_value_valid(const char *v) {
	size_t n = strlen(v), i;

	if (n == 0 || n > 63) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = v[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && ((c != '.' && c != '_' && c != '-') || i == 0 || i == n - 1)) {
			return 0;
		}
	}
	return 1;
}

int kube_read_file(const char *path, size_t max, int nofollow, char **text, size_t *len,
		char *why, size_t whylen) {
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (nofollow ? O_NOFOLLOW : 0));

	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* a FIFO or a device would block or never end */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((size_t)st.st_size > max) {
		snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
		close(fd);
		return -1;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(why, whylen, "out of memory");
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, max + 1 - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
		if (got > max) {
			snprintf(why, whylen, "%s is larger than %zu bytes", path, max);
			free(buf);
			close(fd);
			return -1;
		}
	}
	close(fd);
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}

static int copy(char *out, size_t outlen, const char *value, const char *var, char *why,
		size_t whylen) {
	if (strlen(value) >= outlen) {
		snprintf(why, whylen, "%s is too long", var);
		return -1;
	}
	strcpy(out, value);
	return 0;
}

/* Printable ASCII without spaces: what goes into a URL or a curl option. */
static int plain(const char *s) {
	for (; *s; s++) {
		if (*s <= ' ' || *s >= 0x7f) {
			return 0;
		}
	}
	return 1;
}

static int api_url(struct kube *k, char *why, size_t whylen) {
	const char *api = getenv("WS_KUBE_API");
	size_t n;

	if (api == NULL || api[0] == '\0') {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		if (host == NULL || host[0] == '\0') {
			snprintf(why, whylen, "WS_KUBE_API is not set and KUBERNETES_SERVICE_HOST neither "
				"(not in a pod?)");
			return -1;
		}
		if (port == NULL || port[0] == '\0') {
			port = "443";
		}
		if (!plain(host) || strspn(port, "0123456789") != strlen(port)
				|| (size_t)snprintf(k->api, sizeof(k->api), strchr(host, ':') ? "https://[%s]:%s"
					: "https://%s:%s", host, port) >= sizeof(k->api)) {
			snprintf(why, whylen, "KUBERNETES_SERVICE_HOST/PORT do not make a URL");
			return -1;
		}
		return 0;
	}
	if (strncmp(api, "https://", 8) != 0 || api[8] == '\0' || !plain(api)) {
		snprintf(why, whylen, "WS_KUBE_API must be an https:// URL");
		return -1;
	}
	if (copy(k->api, sizeof(k->api), api, "WS_KUBE_API", why, whylen) != 0) {
		return -1;
	}
	n = strlen(k->api);
	while (n > 8 && k->api[n - 1] == '/') {
		k->api[--n] = '\0';
	}
	return 0;
}

static int namespace(struct kube *k, char *why, size_t whylen) {
	const char *ns = getenv("WS_KUBE_NAMESPACE");
	char *text = NULL, sub[600];
	size_t len;

	if (ns == NULL || ns[0] == '\0') {
		if (kube_read_file(SA_DIR "/namespace", 256, 0, &text, &len, sub, sizeof(sub)) != 0) {
			snprintf(why, whylen, "WS_KUBE_NAMESPACE is not set and %s", sub);
			return -1;
		}
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) {
			text[--len] = '\0';
		}
		ns = text;
	}
	/* a namespace is a DNS label, as a workspace name is */
	if (!ws_gw_name_valid(ns)) {
		snprintf(why, whylen, "the namespace is not a DNS label");
		free(text);
		return -1;
	}
	strcpy(k->ns, ns);
	free(text);
	return 0;
}

int kube_env_load(struct kube *k, char *why, size_t whylen) {
	const char *v;
	char *end;
	unsigned long t;

	memset(k, 0, sizeof(*k));
	if (api_url(k, why, whylen) != 0 || namespace(k, why, whylen) != 0) {
		return -1;
	}
	v = getenv("WS_KUBE_TOKEN_FILE");
	if (copy(k->token_file, sizeof(k->token_file), v && v[0] ? v : SA_DIR "/token",
			"WS_KUBE_TOKEN_FILE", why, whylen) != 0) {
		return -1;
	}
	v = getenv("WS_KUBE_CA_FILE");
	if (copy(k->ca_file, sizeof(k->ca_file), v && v[0] ? v : SA_DIR "/ca.crt",
			"WS_KUBE_CA_FILE", why, whylen) != 0) {
		return -1;
	}
	v = getenv("WS_KUBE_MANAGED");
	if (v == NULL || v[0] == '\0') {
		snprintf(why, whylen, "WS_KUBE_MANAGED is not set (this gateway's label value)");
		return -1;
	}
	if (!kube_label_value_valid(v)) {
		snprintf(why, whylen, "WS_KUBE_MANAGED is not a label value (at most 63 of "
			"A-Z a-z 0-9 . _ -, alphanumeric at both ends)");
		return -1;
	}
	strcpy(k->managed, v);
	/* the prefix starts every object name, which must stay a DNS label */
	v = getenv("WS_KUBE_PREFIX");
	if (v == NULL) {
		v = KUBE_DEFAULT_PREFIX;
	}
	if (strlen(v) > 40 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(v)
			|| v[0] == '-') {
		snprintf(why, whylen, "WS_KUBE_PREFIX must be at most 40 of a-z 0-9 - "
			"(not starting with -)");
		return -1;
	}
	strcpy(k->prefix, v);
	v = getenv("WS_KUBE_TEMPLATE_DIR");
	if (copy(k->template_dir, sizeof(k->template_dir),
			v && v[0] ? v : "/etc/ssh-workspace/kube-templates", "WS_KUBE_TEMPLATE_DIR",
			why, whylen) != 0) {
		return -1;
	}
	v = getenv("WS_KUBE_READY_TIMEOUT");
	k->ready_timeout = 120;
	if (v != NULL && v[0] != '\0') {
		errno = 0;
		t = strtoul(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || t == 0 || t > 3600) {
			snprintf(why, whylen, "WS_KUBE_READY_TIMEOUT must be 1 to 3600 seconds");
			return -1;
		}
		k->ready_timeout = (unsigned int)t;
	}
	v = getenv("WS_KUBE_PROXY");
	if (v != NULL && v[0] != '\0') {
		if (!plain(v) || copy(k->proxy, sizeof(k->proxy), v, "WS_KUBE_PROXY", why, whylen) != 0) {
			snprintf(why, whylen, "WS_KUBE_PROXY is not a proxy URL");
			return -1;
		}
	}
	return 0;
}
