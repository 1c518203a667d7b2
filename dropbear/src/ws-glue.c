/*
 * ws-glue.c - loads the ssh-workspace hook library and calls it at the
 * server's hook points (ws-glue.h).  Copied into the upstream tree by the
 * build; the patch series adds the calls (see dropbear/patches/series).
 *
 * The library is untrusted in one sense only: it may be built for another
 * ABI, so every callback is looked up through the library's struct_size.
 * What clients send is untrusted in every sense: names and values of "env"
 * requests are checked here before the library sees them, and the server
 * keeps its own caps on what any session's environment may grow to.
 */
#include "includes.h"
#include "dbutil.h"
#include "session.h"
#include "channel.h"
#include "chansession.h"
#include "runopts.h"
#include "dbrandom.h"
#include "buffer.h"
#include "netio.h"
#include "auth.h"
#include "ws-glue.h"
#include "ws-runopts.h"
#include "ws_hook.h"

#include <dlfcn.h>

/* Server-side caps; the library applies its own, usually smaller, ones. */
#define WS_ENV_MAX_VARS 256
#define WS_ENV_MAX_BYTES (256 * 1024)
#define WS_ENV_NAME_MAX 255

struct ws_envlist {
	char **items; /* "NAME=VALUE", ready for putenv() */
	unsigned int count;
	size_t bytes;
};

struct ws_chansess {
	unsigned int channel;
	const char *kind; /* NULL until a shell/exec/subsystem request */
	struct ws_envlist fetched; /* from the library's session_env */
	struct ws_envlist client;  /* accepted client "env" requests */
};

static const struct ws_hooks *hooks;
static void *hook_ctx;
/* Only the process that loaded the library (or took over the connection)
 * reports exits: a session child that fails to exec must stay silent. */
static pid_t owner_pid;

static struct {
	int active;
	char session_id[17];
	char *addr, *port;
	char *user, *method, *fingerprint;
} conn;

#define HAS_HOOK(f) (hooks != NULL \
	&& hooks->struct_size >= offsetof(struct ws_hooks, f) + sizeof(hooks->f) \
	&& hooks->f != NULL)

/* Startup errors go to stderr as well as the log: with syslog logging the
 * person starting the server would otherwise see nothing. */
static void load_failed(int is_listener, const char *what) {
	dropbear_log(LOG_ERR, "hook library %s: %s", ws_runopts.hook, what);
	if (is_listener && opts.usingsyslog) {
		/* escaped as the log is (dropbear_log_escape): dlerror() text
		 * names files */
		char line[600], safe[DROPBEAR_LOG_SAFE_LEN(sizeof(line))];
		snprintf(line, sizeof(line), "hook library %s: %s", ws_runopts.hook, what);
		dropbear_log_escape(line, safe, sizeof(safe));
		fprintf(stderr, "dropbear: %s\n", safe);
	}
	dropbear_exit("hook library failed to load");
}

void ws_hooks_load(int is_listener) {
	char msg[512];
	void *lib;
	ws_hook_entry_fn entry;

	if (ws_runopts.hook == NULL) {
		if (ws_runopts.hook_config != NULL) {
			dropbear_exit("--hook-config needs --hook");
		}
		return;
	}
	owner_pid = getpid();

	lib = dlopen(ws_runopts.hook, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		load_failed(is_listener, dlerror());
	}
	/* POSIX's way to turn dlsym()'s object pointer into a function pointer */
	*(void **)(&entry) = dlsym(lib, WS_HOOK_ENTRY_SYMBOL);
	if (entry == NULL) {
		load_failed(is_listener, "no " WS_HOOK_ENTRY_SYMBOL "() symbol: not an ssh-workspace hook library");
	}
	hooks = entry();
	if (hooks == NULL) {
		load_failed(is_listener, WS_HOOK_ENTRY_SYMBOL "() returned NULL");
	}
	if (hooks->abi_version != WS_HOOK_ABI_VERSION) {
		snprintf(msg, sizeof(msg), "built for hook ABI %u, this server speaks hook ABI %u",
			(unsigned int)hooks->abi_version, WS_HOOK_ABI_VERSION);
		hooks = NULL;
		load_failed(is_listener, msg);
	}
	if (hooks->struct_size < offsetof(struct ws_hooks, name) + sizeof(hooks->name)) {
		snprintf(msg, sizeof(msg), "struct ws_hooks too small (%u bytes)",
			(unsigned int)hooks->struct_size);
		hooks = NULL;
		load_failed(is_listener, msg);
	}
	if (HAS_HOOK(startup)) {
		char err[400] = "";
		TRACE(("hook library: startup"))
		if (hooks->startup(&hook_ctx, ws_runopts.hook_config, is_listener, err, sizeof(err)) != WS_HOOK_OK) {
			snprintf(msg, sizeof(msg), "startup failed: %s", err[0] ? err : "no reason given");
			hooks = NULL;
			load_failed(is_listener, msg);
		}
	}
	if (is_listener) {
		dropbear_log(LOG_INFO, "Loaded hook library %s (%s, hook ABI %u)", ws_runopts.hook,
			hooks->name ? hooks->name : "unnamed", WS_HOOK_ABI_VERSION);
	}
}

static void fill_conn(struct ws_conn *c) {
	memset(c, 0, sizeof(*c));
	c->struct_size = sizeof(*c);
	c->session_id = conn.session_id;
	c->client_addr = conn.addr;
	c->client_port = conn.port;
	c->user = conn.user;
	c->auth_method = conn.method;
	c->key_fingerprint = conn.fingerprint;
	c->pid = (long)getpid();
}

static void fill_session(struct ws_session *s, const struct ws_conn *c,
		const struct ChanSess *chansess) {
	memset(s, 0, sizeof(*s));
	s->struct_size = sizeof(*s);
	s->conn = c;
	s->channel = chansess->ws->channel;
	s->kind = chansess->ws->kind;
	s->command = chansess->cmd;
	s->term = chansess->term;
	s->key_options = (svr_opts.forced_command != NULL || svr_pubkey_has_forced_command()
			? WS_KEY_FORCED_COMMAND : 0)
		| (svr_pubkey_is_restricted() ? WS_KEY_RESTRICT : 0);
}

const struct ws_hooks *ws_hooks_for_call(void **ctx, struct ws_conn *c) {
	if (hooks == NULL || !conn.active || getpid() != owner_pid) {
		return NULL;
	}
	*ctx = hook_ctx;
	fill_conn(c);
	return hooks;
}

int ws_hooks_gateway_role(void) {
	/* not tied to conn.active: a check that fails open before connect or
	 * after exit would be worse than none */
	return HAS_HOOK(user_lookup);
}

void ws_hooks_connect(void) {
	unsigned char rnd[8];
	unsigned int i;
	struct ws_conn c;

	if (hooks == NULL) {
		return;
	}
	owner_pid = getpid();
	genrandom(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		snprintf(&conn.session_id[2 * i], 3, "%02x", rnd[i]);
	}
	get_socket_address(ses.sock_in, NULL, NULL, &conn.addr, &conn.port, 0);
	conn.active = 1;
	if (HAS_HOOK(connect)) {
		fill_conn(&c);
		TRACE(("hook library: connect"))
		hooks->connect(hook_ctx, &c);
	}
}

void ws_hooks_auth_success(const char *method, const char *fingerprint) {
	struct ws_conn c;

	if (hooks == NULL || !conn.active) {
		return;
	}
	m_free(conn.user);
	m_free(conn.method);
	m_free(conn.fingerprint);
	conn.user = m_strdup(ses.authstate.pw_name);
	conn.method = m_strdup(method);
	conn.fingerprint = fingerprint ? m_strdup(fingerprint) : NULL;
	if (HAS_HOOK(auth_success)) {
		fill_conn(&c);
		TRACE(("hook library: auth_success (%s)", method))
		hooks->auth_success(hook_ctx, &c);
	}
}

void ws_hooks_chansess_new(const struct Channel *channel, struct ChanSess *chansess) {
	chansess->ws = NULL;
	if (hooks == NULL) {
		return;
	}
	chansess->ws = m_malloc(sizeof(*chansess->ws));
	chansess->ws->channel = channel->index;
}

static int valid_env_name(const char *name, size_t len) {
	size_t i;
	if (len == 0 || len > WS_ENV_NAME_MAX || !(isalpha((unsigned char)name[0]) || name[0] == '_')) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_')) {
			return 0;
		}
	}
	return 1;
}

static void envlist_clear(struct ws_envlist *list) {
	unsigned int i;
	for (i = 0; i < list->count; i++) {
		m_free(list->items[i]);
	}
	m_free(list->items);
	list->count = 0;
	list->bytes = 0;
}

/* Adds or replaces NAME=VALUE.  DROPBEAR_FAILURE for a bad name or a cap. */
static int envlist_set(struct ws_envlist *list, const char *name, const char *value) {
	size_t nlen = strlen(name), vlen = strlen(value), size = nlen + vlen + 2;
	unsigned int i;
	char *item;

	if (!valid_env_name(name, nlen)) {
		return DROPBEAR_FAILURE;
	}
	for (i = 0; i < list->count; i++) {
		if (strncmp(list->items[i], name, nlen) == 0 && list->items[i][nlen] == '=') {
			break;
		}
	}
	if (i == list->count && list->count >= WS_ENV_MAX_VARS) {
		return DROPBEAR_FAILURE;
	}
	if (list->bytes + size - (i < list->count ? strlen(list->items[i]) + 1 : 0) > WS_ENV_MAX_BYTES) {
		return DROPBEAR_FAILURE;
	}
	item = m_malloc(size);
	snprintf(item, size, "%s=%s", name, value);
	if (i < list->count) {
		list->bytes -= strlen(list->items[i]) + 1;
		m_free(list->items[i]);
	} else {
		list->items = m_realloc(list->items, sizeof(char *) * (list->count + 1));
		list->count++;
	}
	list->items[i] = item;
	list->bytes += size;
	return DROPBEAR_SUCCESS;
}

static int env_set_from_library(void *env_ctx, const char *name, const char *value) {
	if (name == NULL || value == NULL) {
		return WS_HOOK_FAIL;
	}
	return envlist_set(env_ctx, name, value) == DROPBEAR_SUCCESS ? WS_HOOK_OK : WS_HOOK_FAIL;
}

/* Tells the library about a request the server refused on its own, so that
 * the refusal reaches the event log like the library's own refusals. */
static void client_env_refused(struct ChanSess *chansess, const char *name,
		unsigned int namelen, const char *reason) {
	struct ws_conn c;
	struct ws_session s;

	if (!HAS_HOOK(client_env_refused)) {
		return;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: client_env_refused (%s)", reason))
	hooks->client_env_refused(hook_ctx, &s, name, namelen, reason);
}

int ws_hooks_client_env(struct ChanSess *chansess) {
	unsigned int namelen, valuelen;
	char *name = buf_getstring(ses.payload, &namelen);
	char *value = buf_getstring(ses.payload, &valuelen);
	int ret = DROPBEAR_FAILURE;
	const char *why = NULL;
	struct ws_conn c;
	struct ws_session s;

	/* Refused unless a library wants it; too late once the child runs;
	 * embedded NULs would make the name or value mean something else. */
	if (chansess->ws == NULL || !HAS_HOOK(client_env)) {
		goto out;
	}
	if (chansess->pid != 0) {
		why = "session already started";
	} else if (strlen(name) != namelen || !valid_env_name(name, namelen)) {
		why = "invalid name";
	} else if (strlen(value) != valuelen) {
		why = "NUL byte in value";
	}
	if (why != NULL) {
		client_env_refused(chansess, name, namelen, why);
		goto out;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: client_env %s", name))
	if (hooks->client_env(hook_ctx, &s, name, value) == WS_HOOK_ACCEPT) {
		ret = envlist_set(&chansess->ws->client, name, value);
		if (ret == DROPBEAR_FAILURE) {
			client_env_refused(chansess, name, namelen, "over the server's caps");
		}
	}
out:
	m_free(name);
	m_free(value);
	return ret;
}

int ws_hooks_session_prepare(struct ChanSess *chansess, int iscmd, int issubsys) {
	struct ws_conn c;
	struct ws_session s;

	if (chansess->ws == NULL) {
		return DROPBEAR_SUCCESS;
	}
	chansess->ws->kind = issubsys ? "subsystem" : (iscmd ? "exec" : "shell");
	/* a client may retry after a refused request: start from scratch */
	envlist_clear(&chansess->ws->fetched);
	if (!HAS_HOOK(session_env)) {
		return DROPBEAR_SUCCESS;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: session_env (%s)", chansess->ws->kind))
	if (hooks->session_env(hook_ctx, &s, env_set_from_library, &chansess->ws->fetched) != WS_HOOK_OK) {
		dropbear_log(LOG_WARNING, "Session refused by the hook library");
		envlist_clear(&chansess->ws->fetched);
		return DROPBEAR_FAILURE;
	}
	return DROPBEAR_SUCCESS;
}

void ws_hooks_session_started(struct ChanSess *chansess) {
	struct ws_conn c;
	struct ws_session s;

	if (chansess->ws == NULL || !HAS_HOOK(session_start)) {
		return;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: session_start (pid %ld)", (long)chansess->pid))
	hooks->session_start(hook_ctx, &s, (long)chansess->pid);
}

void ws_hooks_apply_env(const struct ChanSess *chansess) {
	const struct ws_envlist *lists[2];
	unsigned int l, i;

	if (chansess->ws == NULL) {
		return;
	}
	lists[0] = &chansess->ws->fetched;
	lists[1] = &chansess->ws->client;
	for (l = 0; l < 2; l++) {
		for (i = 0; i < lists[l]->count; i++) {
			/* the child execs right after; putenv keeps the string */
			if (putenv(lists[l]->items[i]) != 0) {
				dropbear_exit("environ error");
			}
		}
	}
}

void ws_hooks_agent_socket(const struct ChanSess *chansess, const char *path, int opened) {
	struct ws_conn c;
	struct ws_session s;

	if (chansess->ws == NULL || !HAS_HOOK(agent_socket)) {
		return;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: agent_socket %s (%s)", path, opened ? "opened" : "closed"))
	hooks->agent_socket(hook_ctx, &s, path, opened);
}

int ws_hooks_agent_request(const struct ChanSess *chansess) {
	struct ws_conn c;
	struct ws_session s;

	if (chansess->ws == NULL || !HAS_HOOK(agent_request)) {
		return DROPBEAR_SUCCESS;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: agent_request"))
	return hooks->agent_request(hook_ctx, &s) != WS_HOOK_REFUSE ? DROPBEAR_SUCCESS : DROPBEAR_FAILURE;
}

const char *ws_hooks_agent_env_path(const struct ChanSess *chansess, int key_allows_agent) {
	struct ws_conn c;
	struct ws_session s;

	if (chansess->ws == NULL || !HAS_HOOK(agent_env_path)) {
		return NULL;
	}
	fill_conn(&c);
	fill_session(&s, &c, chansess);
	TRACE(("hook library: agent_env_path"))
	return hooks->agent_env_path(hook_ctx, &s, key_allows_agent);
}

void ws_hooks_session_exit(const struct Channel *channel, struct ChanSess *chansess) {
	struct ws_conn c;
	struct ws_session s;
	struct ws_exit e;

	if (chansess->ws == NULL) {
		return;
	}
	if (chansess->pid != 0 && HAS_HOOK(session_exit) && getpid() == owner_pid) {
		memset(&e, 0, sizeof(e));
		e.struct_size = sizeof(e);
		e.exit_status = -1;
		if (chansess->exit.exitpid != -1) {
			if (chansess->exit.exitsignal > 0) {
				e.exit_signal = chansess->exit.exitsignal;
			} else {
				e.exit_status = chansess->exit.exitstatus;
			}
		}
		e.bytes_in = channel->ws_bytes_in;
		e.bytes_out = channel->ws_bytes_out;
		fill_conn(&c);
		fill_session(&s, &c, chansess);
		TRACE(("hook library: session_exit"))
		hooks->session_exit(hook_ctx, &s, &e);
	}
	envlist_clear(&chansess->ws->fetched);
	envlist_clear(&chansess->ws->client);
	m_free(chansess->ws);
}

void ws_hooks_exit(const char *reason) {
	struct ws_conn c;

	if (hooks == NULL || getpid() != owner_pid) {
		return;
	}
	if (conn.active && HAS_HOOK(disconnect)) {
		fill_conn(&c);
		TRACE(("hook library: disconnect (%s)", reason))
		hooks->disconnect(hook_ctx, &c, reason);
	}
	conn.active = 0;
	if (HAS_HOOK(shutdown)) {
		TRACE(("hook library: shutdown"))
		hooks->shutdown(hook_ctx);
	}
	hooks = NULL;
}

void ws_hooks_activity(void) {
	static time_t last_call, last_reported = -1;
	static unsigned int last_channels;
	struct ws_conn c;
	struct ws_activity a;
	time_t now;

	if (!HAS_HOOK(activity) || !conn.active || !ses.authstate.authdone) {
		return;
	}
	/* the main loop runs for every packet: at most one call a second, and
	 * the cheap checks (clock_gettime is a vDSO call, getpid a syscall) first */
	now = monotonic_now();
	if (now == last_call || (ses.last_packet_time_idle == last_reported
			&& ses.chancount == last_channels) || getpid() != owner_pid) {
		return;
	}
	last_call = now;
	last_reported = ses.last_packet_time_idle;
	last_channels = ses.chancount;
	memset(&a, 0, sizeof(a));
	a.struct_size = sizeof(a);
	/* monotonic seconds -> wall clock */
	a.last_activity_ms = ((int64_t)time(NULL) - (int64_t)(now - ses.last_packet_time_idle)) * 1000;
	a.channels = ses.chancount;
	fill_conn(&c);
	TRACE(("hook library: activity"))
	hooks->activity(hook_ctx, &c, &a);
}
