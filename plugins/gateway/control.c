/*
 * control.c - ws-gateway control: the gateway's forced command.  What the
 * user typed after `ssh USER@GATEWAY` arrives in SSH_ORIGINAL_COMMAND; the
 * server sets USER to the login name.  Commands:
 *   (none) | list        the user's workspaces and how to connect
 *   status NAME | start NAME | stop NAME | rm NAME --yes | config
 * Only workspaces the user owns or is granted are shown or touched; rm
 * only the user's own.
 */
#include "gw.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_COMMAND 256
#define MAX_WORDS 4

static const char *usage =
	"commands: list, status NAME, start NAME, stop NAME, rm NAME --yes, config\n";

struct listing {
	struct gw *g;
	const char *user;
	int count;
	int known_hosts; /* config: print known_hosts lines instead */
	int own_listed;  /* the workspace named as the user is among them */
	int owned;       /* how many of them the user owns */
};

static const char *suffix(struct gw *g) {
	return g->cfg.gateway.suffix ? g->cfg.gateway.suffix : ".ws";
}

static void list_cb(void *arg, const char *name, const char *state) {
	struct listing *l = arg;
	char why[600], reason[16], key[1200];

	if (ws_gw_may_use(&l->g->cfg, l->user, name, why, sizeof(why)) != 1) {
		return;
	}
	l->count++;
	l->own_listed |= strcmp(name, l->user) == 0;
	l->owned += ws_gw_owns(l->user, name);
	if (l->known_hosts) {
		gw_host_public_key(l->g, name, key, sizeof(key));
		if (key[0] != '\0') {
			printf("%s%s %s\n", name, suffix(l->g), key);
		}
		return;
	}
	gw_stop_reason(l->g, name, reason, sizeof(reason));
	printf("%-32s %s%s%s%s\n", name, state, reason[0] ? " (" : "",
		reason[0] ? (strcmp(reason, "asked") == 0 ? "by you" : "idle") : "",
		reason[0] ? ")" : "");
}

static int cmd_list(struct gw *g, const char *user) {
	struct listing l = { g, user, 0, 0, 0, 0 };
	char detail[512];

	if (gw_backend_list(g, list_cb, &l, detail, sizeof(detail)) != 0) {
		fprintf(stderr, "cannot list workspaces: %s\n", detail);
		return 1;
	}
	if (l.count == 0) {
		int create;
		unsigned int max;
		if (ws_gw_user_limits(&g->cfg, user, &create, &max, detail, sizeof(detail)) != 0) {
			create = WS_GW_CREATE_OFF; /* the wake logs the refused file */
		}
		printf("no workspaces for %s%s\n", user,
			create != WS_GW_CREATE_OFF ? "; one is created on first use: ssh NAME" : "");
		if (create == WS_GW_CREATE_ON) {
			printf("  (NAME = %s or %s-SOMETHING, then %s)\n", user, user, suffix(g));
		} else if (create == WS_GW_CREATE_OWN) {
			printf("  (NAME = %s%s)\n", user, suffix(g));
		}
		return 0;
	}
	printf("\nconnect: ssh NAME%s   (once: ssh %s config >> ~/.ssh/config)\n",
		suffix(g), gw_ssh_to(g, user));
	return 0;
}

/* The user's first workspace, named as the user, is made on first use:
 * its host key is made now, under the workspace's lock, and create takes
 * it, so that the first connection is checked against a known key like
 * every later one rather than trusted on first use.  Nothing when the
 * user may not create it (the rules, or the most workspaces reached).
 * 0, or -1 when the line is owed but could not be made. */
static int first_host_key(struct gw *g, const char *user, int owned) {
	char detail[512], path[PATH_MAX], key[1200];
	unsigned int max;
	int mode, lock;

	if (ws_gw_user_limits(&g->cfg, user, &mode, &max, detail, sizeof(detail)) != 0) {
		gw_event(g, "gateway_problem", user, user, "reason", detail, NULL, 0);
		return 0; /* a create is refused too, and says so */
	}
	if (!ws_gw_may_create(mode, user, user) || (unsigned int)owned >= max) {
		return 0;
	}
	if ((lock = gw_lock(g, user, 0)) < 0) {
		fprintf(stderr, "cannot lock '%s'\n", user);
		return -1;
	}
	key[0] = '\0';
	if (gw_make_host_key(g, user, path, sizeof(path), detail, sizeof(detail)) != 0) {
		fprintf(stderr, "the host key of '%s': %s\n", user, detail);
	} else {
		gw_host_public_key(g, user, key, sizeof(key));
		if (key[0] != '\0') {
			printf("%s%s %s\n", user, suffix(g), key);
		}
	}
	/* no lock file left for a name that does not exist (yet) */
	gw_unlock(g, user, lock, 1);
	return key[0] != '\0' ? 0 : -1;
}

static int cmd_config(struct gw *g, const char *user) {
	struct listing l = { g, user, 0, 1, 0, 0 };
	char detail[512];

	printf("Host *%s\n    ProxyJump %s@%s\n    User %s\n\n", suffix(g), user, g->host,
		ws_gw_workspace_user(&g->cfg));
	printf("# known_hosts lines for your workspaces (add them to ~/.ssh/known_hosts):\n");
	if (gw_backend_list(g, list_cb, &l, detail, sizeof(detail)) != 0) {
		fprintf(stderr, "cannot list workspaces: %s\n", detail);
		return 1;
	}
	if (!l.own_listed && first_host_key(g, user, l.owned) != 0) {
		return 1;
	}
	return 0;
}

static int no_workspace(const char *user, const char *name) {
	fprintf(stderr, "no workspace '%s' for %s\n", name, user);
	return 1;
}

static int cmd_status(struct gw *g, const char *user, const char *name) {
	char detail[512], addr[300], why[600], reason[16];
	unsigned int port;
	enum gw_state state;

	if (ws_gw_may_use(&g->cfg, user, name, why, sizeof(why)) != 1) {
		return no_workspace(user, name);
	}
	if (gw_backend_status(g, name, &state, addr, sizeof(addr), &port, detail,
			sizeof(detail)) != 0) {
		fprintf(stderr, "status of '%s': %s\n", name, detail);
		return 1;
	}
	if (state == GW_MISSING) {
		return no_workspace(user, name);
	}
	gw_stop_reason(g, name, reason, sizeof(reason));
	printf("%s %s%s%s\n", name, state == GW_RUNNING ? "running" : "stopped",
		state == GW_STOPPED && reason[0] ? " " : "",
		state == GW_STOPPED ? reason : "");
	return 0;
}

static int cmd_start(struct gw *g, const char *user, const char *name) {
	char addr[300], reason[WS_GW_REASON_MAX], why[600];
	unsigned int port;
	int lock, ret;

	/* before the lock: no lock file for a name the user has no business with */
	if (ws_gw_may_use(&g->cfg, user, name, why, sizeof(why)) != 1) {
		return no_workspace(user, name);
	}
	if ((lock = gw_lock(g, name, 0)) < 0) {
		fprintf(stderr, "cannot lock '%s'\n", name);
		return 1;
	}
	ret = gw_ensure_running(g, user, name, 1, addr, sizeof(addr), &port, reason,
		sizeof(reason));
	gw_unlock(g, name, lock, ret != 0 && gw_ensure_found_none());
	if (ret != 0) {
		fprintf(stderr, "%s\n", reason);
		return 1;
	}
	printf("%s is running: ssh %s%s\n", name, name, suffix(g));
	return 0;
}

/* Takes name's lock and finds name at the backend: the lock, with *state
 * set, if it is there; else -1, the lock let go and the failure said, with
 * *ret the command's exit status.  *ret is 1 either way. */
static int lock_existing(struct gw *g, const char *user, const char *name,
		enum gw_state *state, int *ret) {
	char detail[512], addr[300];
	unsigned int port;
	int lock;

	*ret = 1;
	if ((lock = gw_lock(g, name, 0)) < 0) {
		fprintf(stderr, "cannot lock '%s'\n", name);
		return -1;
	}
	if (gw_backend_status(g, name, state, addr, sizeof(addr), &port, detail,
			sizeof(detail)) != 0) {
		fprintf(stderr, "status of '%s': %s\n", name, detail);
		gw_unlock(g, name, lock, 0);
		return -1;
	}
	if (*state == GW_MISSING) {
		*ret = no_workspace(user, name);
		gw_unlock(g, name, lock, 1);
		return -1;
	}
	return lock;
}

static int cmd_stop(struct gw *g, const char *user, const char *name) {
	char detail[512], why[600];
	enum gw_state state;
	int lock, ret;

	if (ws_gw_may_use(&g->cfg, user, name, why, sizeof(why)) != 1) {
		return no_workspace(user, name);
	}
	if ((lock = lock_existing(g, user, name, &state, &ret)) < 0) {
		return ret;
	}
	if (state == GW_RUNNING && gw_backend_do(g, "stop", name, detail,
			sizeof(detail)) != 0) {
		fprintf(stderr, "stop '%s': %s\n", name, detail);
	} else {
		/* recorded even if it was stopped already: the user's word counts */
		gw_set_stop_reason(g, name, "asked");
		gw_event(g, "gateway_stop", user, name, "reason", "asked", NULL, 0);
		printf("%s stopped; it stays stopped until: ssh %s start %s\n", name,
			gw_ssh_to(g, user), name);
		ret = 0;
	}
	gw_unlock(g, name, lock, 0);
	return ret;
}

static int cmd_rm(struct gw *g, const char *user, const char *name, const char *yes) {
	char detail[512];
	enum gw_state state;
	int lock, ret, gone = 0;

	if (!ws_gw_owns(user, name)) {
		return no_workspace(user, name);
	}
	if (yes == NULL || strcmp(yes, "--yes") != 0) {
		fprintf(stderr, "this deletes '%s' and its home for good; to go on: "
			"ssh %s rm %s --yes\n", name, gw_ssh_to(g, user), name);
		return 1;
	}
	if ((lock = lock_existing(g, user, name, &state, &ret)) < 0) {
		return ret;
	}
	if (gw_backend_do(g, "delete", name, detail, sizeof(detail)) != 0) {
		fprintf(stderr, "rm '%s': %s\n", name, detail);
	} else {
		gw_remove_files(g, name);
		gw_event(g, "gateway_delete", user, name, NULL, NULL, NULL, 0);
		printf("%s deleted\n", name);
		ret = 0;
		gone = 1;
	}
	gw_unlock(g, name, lock, gone);
	return ret;
}

int gw_control_main(struct gw *g) {
	const char *user = getenv("USER"), *command = getenv("SSH_ORIGINAL_COMMAND");
	char buf[MAX_COMMAND + 1], *words[MAX_WORDS + 1], *save = NULL, *w;
	int n = 0;

	if (user == NULL || !ws_gw_user_valid(user)) {
		fprintf(stderr, "ws-gateway control: USER is not a valid user name\n");
		return 2;
	}
	if (command == NULL) {
		command = "";
	}
	if (strlen(command) > MAX_COMMAND) {
		fprintf(stderr, "command too long\n%s", usage);
		return 2;
	}
	snprintf(buf, sizeof(buf), "%s", command);
	for (w = strtok_r(buf, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
		if (n == MAX_WORDS) {
			fprintf(stderr, "too many words\n%s", usage);
			return 2;
		}
		words[n++] = w;
	}
	words[n] = NULL;
	if (n == 0 || (n == 1 && strcmp(words[0], "list") == 0)) {
		return cmd_list(g, user);
	}
	if (n == 1 && strcmp(words[0], "config") == 0) {
		return cmd_config(g, user);
	}
	if (n >= 2 && !ws_gw_name_valid(words[1])) {
		fprintf(stderr, "'%.64s' is not a workspace name\n", words[1]);
		return 2;
	}
	if (n == 2 && strcmp(words[0], "status") == 0) {
		return cmd_status(g, user, words[1]);
	}
	if (n == 2 && strcmp(words[0], "start") == 0) {
		return cmd_start(g, user, words[1]);
	}
	if (n == 2 && strcmp(words[0], "stop") == 0) {
		return cmd_stop(g, user, words[1]);
	}
	if ((n == 2 || n == 3) && strcmp(words[0], "rm") == 0) {
		return cmd_rm(g, user, words[1], words[2]);
	}
	fprintf(stderr, "%s", usage);
	return 2;
}
