/*
 * kube.h - ws-gateway-kube, the gateway's Kubernetes backend
 * (docs/gateway.md): the backend command protocol on a StatefulSet per
 * workspace, spoken to the API server over HTTPS with the pod's service
 * account.  Only objects labelled with this gateway's WS_KUBE_MANAGED
 * value are ever changed; Secrets are written, never read.
 */
#ifndef WS_KUBE_H
#define WS_KUBE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define KUBE_OBJECT_MAX 52             /* the StatefulSet's pod revision label limit */
#define KUBE_DEFAULT_PREFIX "ws-"
#define KUBE_DEFAULT_SSH_PORT 2222
#define KUBE_RESPONSE_MAX (4u * 1024 * 1024)
#define KUBE_EVENT_MAX (1024u * 1024)  /* one watch event line */
#define KUBE_TOKEN_MAX (64u * 1024)
#define KUBE_TOKEN_MIN 16            /* a ServiceAccount token is far longer */
#define KUBE_FILE_MAX (1024u * 1024)   /* a template, a keys or host key file */
#define KUBE_MESSAGE_MAX 200           /* a Status message quoted in an error */
#define KUBE_EXEC_OUTPUT_MAX (64u * 1024)
#define KUBE_EXEC_TIMEOUT_MS 10000
#define KUBE_LIST_LIMIT 100  /* a StatefulSet with managedFields: 8-11 KB */

#define KUBE_LABEL_MANAGED_BY "app.kubernetes.io/managed-by"
#define KUBE_LABEL_GATEWAY "ssh-workspace/gateway"
#define KUBE_LABEL_WORKSPACE "ssh-workspace/workspace"
#define KUBE_MANAGED_BY "ws-gateway"

/* --- the environment (env.c) --- */
struct kube {
	char api[512];          /* https://host[:port], no trailing '/' */
	char token_file[1024];
	char ca_file[1024];
	char ns[64];
	char managed[64];
	char prefix[48];
	char template_dir[1024];
	unsigned int ready_timeout;   /* seconds */
	char proxy[512];        /* "" = none, whatever https_proxy says */
	char token[KUBE_TOKEN_MAX]; /* the token of the request being made */
	long long deadline_ms;  /* the whole command's end (kube_now_ms clock); 0: none */
};
/* The gateway kills a call at 30 s: a verb ends well before, with its reason. */
#define KUBE_COMMAND_MS 25000
/* start and create: WS_KUBE_READY_TIMEOUT and this much more */
#define KUBE_READY_EXTRA_MS 10000
/* A monotonic clock, in ms. */
long long kube_now_ms(void);
/* What is left of the command's time (ms; <= 0: none), wanted at most. */
long long kube_left_ms(const struct kube *k, long long wanted);
/* Reads and checks every WS_KUBE_* variable: 0, or -1 with why. */
int kube_env_load(struct kube *k, char *why, size_t whylen);
/* A Kubernetes label value: at most 63 of [A-Za-z0-9._-], alnum at both ends. */
int kube_label_value_valid(const char *v);
/* Reads a regular file (no symlink) of at most max bytes: 0 with *text
 * (NUL-terminated, free()) and *len, -1 with why. */
int kube_read_file(const char *path, size_t max, int nofollow, char **text, size_t *len,
	char *why, size_t whylen);

/* --- objects (objects.c): pure functions on names and JSON --- */
/* OBJECT = prefix + name: 0, or -1 with the too-long refusal in why. */
int kube_object_name(const char *prefix, const char *name, char *out, size_t outlen,
	char *why, size_t whylen);
/* Every __OBJECT__ and __NAME__ of text replaced (malloc). */
char *kube_substitute(const char *text, const char *object, const char *name);
/* The StatefulSet of a template text (substituted, named, labelled,
 * replicas 0), or NULL with why. */
cJSON *kube_statefulset(const char *template_text, const char *object, const char *name,
	const char *managed, char *why, size_t whylen);
/* Sets the three labels on metadata (an object), replacing theirs. */
int kube_set_labels(cJSON *metadata, const char *managed, const char *name);
/* A Secret OBJECT-SUFFIX holding KEY = base64(data), labelled, owned by
 * the StatefulSet uid. */
cJSON *kube_secret(const char *object, const char *suffix, const char *key,
	const unsigned char *data, size_t len, const char *managed, const char *name,
	const char *sts_uid);
/* [the StatefulSet OBJECT of this uid] as ownerReferences: deleting it
 * deletes them (not a controller, blocks nothing) */
cJSON *kube_owner_refs(const char *object, const char *sts_uid);
/* base64 of data (malloc, NUL-terminated) */
char *kube_base64(const unsigned char *data, size_t len);
/* The object's label ssh-workspace/gateway is managed. */
int kube_is_ours(const cJSON *obj, const char *managed);
/* metadata.NAME as a string, or NULL */
const char *kube_meta_string(const cJSON *obj, const char *field);
/* The pod is ours and the StatefulSet's of this uid (an owner reference
 * to it): not one made by someone else under its name. */
int kube_pod_is_ours(const cJSON *pod, const char *managed, const char *sts_uid);
/* spec.replicas (1, Kubernetes' default, when absent) */
int kube_replicas(const cJSON *sts);
/* The port named ssh of container workspace in spec.template (2222 if none). */
unsigned int kube_ssh_port(const cJSON *sts);
/* 1 when the pod is Ready, has an IP and is not being deleted (ip set). */
int kube_pod_running(const cJSON *pod, char *ip, size_t iplen);
/* Why a pod is not Ready, for the timeout message ("no pod" for NULL). */
void kube_pod_why(const cJSON *pod, char *why, size_t whylen);
/* The workspaces of a StatefulSet list: fn(NAME, running) for each item
 * that is ours, labelled with a valid name and named PREFIX+NAME.
 * Returns the number reported, -1 if it is not a list. */
int kube_list_items(const cJSON *list, const char *prefix, const char *managed,
	void (*fn)(void *arg, const char *name, int running), void *arg);
/* JSON Patch: [test the gateway label == managed, then ops...] */
cJSON *kube_patch_new(const char *managed);
void kube_patch_add(cJSON *patch, const char *op, const char *path, cJSON *value);

/* --- requests (api.c) --- */
enum kube_req {
	REQ_GET_STS, REQ_LIST_STS, REQ_CREATE_STS, REQ_PATCH_STS, REQ_DELETE_STS,
	REQ_GET_POD, REQ_WATCH_POD, REQ_EXEC_POD,
	REQ_CREATE_SECRET, REQ_PATCH_SECRET,
	REQ_LIST_PVC, REQ_DELETE_PVC,
	REQ_COUNT
};
struct kube_req_def {
	const char *method;
	const char *verbs[2];   /* as RBAC authorizes it (an exec: both) */
	const char *group;      /* "" for core */
	const char *resource;
	const char *subresource;
	int named;              /* the path names one object */
};
extern const struct kube_req_def kube_requests[REQ_COUNT];
/* `requests`: every "VERB GROUP RESOURCE" of the table, sorted, once. */
void kube_print_requests(void);

struct kube_resp {
	long status;
	char *body;             /* NUL-terminated (malloc) */
	size_t len;
};
void kube_resp_free(struct kube_resp *r);
/* The request's path (after the base URL), query appended when given. */
int kube_path(const struct kube *k, enum kube_req req, const char *name, const char *query,
	char *out, size_t outlen);
/* One request: 0 with r (any HTTP status), -1 with why (transport).
 * The token is read again for it, and again with one retry on a 401. */
int kube_call(struct kube *k, enum kube_req req, const char *name, const char *query,
	const cJSON *body, struct kube_resp *r, char *why, size_t whylen);
/* A watch: fn gets each event line; it returns 1 to stop (done), 0 to go
 * on, -1 to stop (broken).  0 when fn stopped it with 1, 1 when the
 * stream ended or broke, -1 with why when it could not be made. */
int kube_watch(struct kube *k, enum kube_req req, const char *query, unsigned int timeout_ms,
	int (*fn)(void *arg, const char *line, size_t len), void *arg, char *why, size_t whylen);
/* The one-line error of a response: "METHOD RESOURCE/NAME: 403 Forbidden: MESSAGE". */
void kube_error_text(char *out, size_t outlen, const char *method, const char *resource,
	const char *name, long status, const char *body, size_t len, const char *token);
void kube_fail_resp(const struct kube *k, enum kube_req req, const char *name,
	const struct kube_resp *r, char *why, size_t whylen);
/* A libcurl handle (CURL *) for url with the options every request shares:
 * HTTPS only, verified against the CA file, no proxy but WS_KUBE_PROXY. */
void *kube_easy(struct kube *k, const char *url, char *why, size_t whylen);
/* Reads the token file into k->token: 0, or -1 with why. */
int kube_read_token(struct kube *k, char *why, size_t whylen);

/* --- list (list.c) --- */
/* Prints `NAME running|stopped` for each workspace: 0, or -1 with why. */
int kube_list(struct kube *k, char *why, size_t whylen);

/* --- the Secrets (secrets.c) --- */
/* Secret OBJECT-SUFFIX holds KEY = data, labelled, owned by the
 * StatefulSet of sts_uid: made, or when it is there (ours) its data and
 * owner replaced; post_first: try the POST before the PATCH.  0, or -1
 * with why. */
int kube_put_secret(struct kube *k, const char *object, const char *name, const char *sts_uid,
	const char *suffix, const char *key, const char *data, size_t len, int post_first,
	char *why, size_t whylen);

/* --- the readiness wait (watch.c) --- */
/* Until pod OBJECT-0, this gateway's and a pod of the StatefulSet with
 * sts_uid, is Ready (0), or -1 with why. */
int kube_wait_ready(struct kube *k, const char *object, const char *sts_uid, char *why,
	size_t whylen);

/* --- exec over WebSocket (wsframe.c: pure, exec.c: the connection) --- */
struct ws_frame {
	int fin;
	int opcode;
	const unsigned char *payload;
	size_t len;
};
/* One frame at buf: its size (> 0), 0 if more bytes are needed, -1 if it
 * is not acceptable (why). */
long ws_frame_parse(const unsigned char *buf, size_t len, size_t cap, struct ws_frame *f,
	char *why, size_t whylen);
/* A masked client frame (close, pong) of at most 125 bytes: its size. */
size_t ws_client_frame(int opcode, const unsigned char *payload, size_t len,
	const unsigned char mask[4], unsigned char *out, size_t outlen);
/* Sec-WebSocket-Accept for a key. */
int ws_accept_for(const char *key, char *out, size_t outlen);
/* The last activity the script printed: "hold" is now_ms, else the
 * newest last_activity_ms, else 0. */
int64_t kube_activity_parse(const char *out, size_t len, int64_t now_ms);
/* The activity script in the pod's container: its stdout (malloc), or -1 with why. */
int kube_exec_activity(struct kube *k, const char *object, char **out, size_t *len,
	char *why, size_t whylen);

#endif
