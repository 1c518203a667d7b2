/*
 * envsrc_files.c - environment from files: a directory laid out like a
 * Kubernetes Secret/ConfigMap mount, and a dotenv file.  Also the reading
 * helpers every source shares.
 */
#define _DEFAULT_SOURCE /* explicit_bzero, DT_* */
#include "envsources.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envparse.h"

/* A directory with more entries than this is not an env mount. */
#define DIR_MAX_ENTRIES 4096

void ws_envsrc_put(void *sink, const char *name, size_t nlen, const char *value, size_t vlen) {
	struct ws_envsrc_sink *to = sink;
	ws_envlist_put(to->list, to->cfg, name, nlen, value, vlen);
}

static int by_name(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file of the directory: the file must be root's or ours and writable by
 * nobody else; when the entry is a symlink (the kubelet's layout), so must
 * the link be, and the directories it leads through. */
static int entry_trusted(DIR *dir, const char *path, const char *name, int fd,
		char *err, size_t errlen) {
	char entry[PATH_MAX];
	struct stat lst;

	if ((size_t)snprintf(entry, sizeof(entry), "%s/%s", path, name) >= sizeof(entry)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if (ws_trust_fd(fd, entry, err, errlen) != 0) {
		return -1;
	}
	if (fstatat(dirfd(dir), name, &lst, AT_SYMLINK_NOFOLLOW) != 0) {
		snprintf(err, errlen, "%s: %s", entry, strerror(errno));
		return -1;
	}
	return S_ISLNK(lst.st_mode) ? ws_trust_parents(entry, err, errlen) : 0;
}

/* One variable per regular file.  Symlinks are followed: the kubelet's
 * layout is NAME -> ..data/NAME -> ..TIMESTAMP/NAME, and the dot entries
 * it swaps atomically are skipped like every dotfile.  Subdirectories are
 * skipped (they are other users' files). */
static int read_dir(const char *path, const struct ws_env_config *cfg, struct ws_envlist *list,
		char *err, size_t errlen) {
	char *names[DIR_MAX_ENTRIES];
	size_t n = 0, i;
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	/* before opening it: an unsafe place fails even while it is empty */
	if (ws_trust_parents(path, err, errlen) != 0) {
		return -1;
	}
	dir = opendir(path);
	if (dir == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? 1 : -1;
	}
	if (ws_trust_fd(dirfd(dir), path, err, errlen) != 0) {
		closedir(dir);
		return -1;
	}
	while ((de = readdir(dir)) != NULL && ret == 0) {
		if (de->d_name[0] == '.') {
			continue;
		}
		if (n == DIR_MAX_ENTRIES) {
			snprintf(err, errlen, "%s: more than %d entries", path, DIR_MAX_ENTRIES);
			ret = -1;
		} else if ((names[n] = strdup(de->d_name)) == NULL) {
			snprintf(err, errlen, "out of memory");
			ret = -1;
		} else {
			n++;
		}
	}
	/* sorted, so the order of the log's rejection list is stable */
	qsort(names, n, sizeof(names[0]), by_name);
	for (i = 0; i < n && ret == 0; i++) {
		enum ws_env_verdict v = ws_env_name_verdict(cfg, names[i], strlen(names[i]));
		struct stat st;
		char *value = NULL, why[128];
		size_t vlen = 0;
		int fd;

		if (v != WS_ENV_OK) {
			/* not even read: a secret nobody may use stays unread */
			ws_envlist_reject(list, names[i], strlen(names[i]), v);
			continue;
		}
		fd = openat(dirfd(dir), names[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			if (fd >= 0) {
				close(fd);
			}
			continue;
		}
		if (entry_trusted(dir, path, names[i], fd, err, errlen) != 0) {
			close(fd);
			ret = -1;
			break;
		}
		/* one byte over the cap is enough to know it is too long */
		if (ws_read_all(fd, (size_t)cfg->value_max + 2, NULL, &value, &vlen, why, sizeof(why)) != 0) {
			if (strncmp(why, "larger", 6) == 0) {
				ws_envlist_reject(list, names[i], strlen(names[i]), WS_ENV_TOO_LONG);
			} else {
				snprintf(err, errlen, "%s/%s: %s", path, names[i], why);
				ret = -1;
			}
		} else {
			if (vlen > 0 && value[vlen - 1] == '\n') {
				vlen--;
			}
			ws_envlist_put(list, cfg, names[i], strlen(names[i]), value, vlen);
		}
		ws_free_secret(value, vlen);
		close(fd);
	}
	for (i = 0; i < n; i++) {
		free(names[i]);
	}
	closedir(dir);
	return ret;
}

int ws_envsrc_dir(const struct ws_env_config *cfg, const struct ws_env_request *req,
		struct ws_envlist *list, char *err, size_t errlen) {
	char user_dir[4096];
	int ret = read_dir(cfg->dir, cfg, list, err, errlen);

	if (ret == 1) {
		return -1; /* the global directory is the source: it must exist */
	}
	if (ret != 0 || !ws_user_name_safe(req->user)) {
		return ret;
	}
	if ((size_t)snprintf(user_dir, sizeof(user_dir), "%s/%s", cfg->dir, req->user) >= sizeof(user_dir)) {
		snprintf(err, errlen, "%s: path too long", cfg->dir);
		return -1;
	}
	ret = read_dir(user_dir, cfg, list, err, errlen);
	return ret == 1 ? 0 : ret;
}

int ws_envsrc_file(const struct ws_env_config *cfg, const struct ws_env_request *req,
		struct ws_envlist *list, char *err, size_t errlen) {
	char path[4096], why[256];
	struct ws_envsrc_sink sink = { list, cfg };
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, ret;

	if (ws_expand_user_path(cfg->file, req->user, path, sizeof(path)) != 0) {
		snprintf(err, errlen, "%s: cannot expand %%u for this user", cfg->file);
		return -1;
	}
	/* before opening it: a per-user file that is missing today may be
	 * created tomorrow by whoever can write its directory */
	if (ws_trust_parents(path, err, errlen) != 0) {
		return -1;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		/* a per-user file is optional; the one file everyone gets is not */
		return errno == ENOENT && strstr(cfg->file, "%u") != NULL ? 1 : -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (ws_trust_fd(fd, path, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	ret = ws_read_all(fd, cfg->output_max, NULL, &text, &len, why, sizeof(why));
	close(fd);
	if (ret != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	if (ws_parse_dotenv(text, len, ws_envsrc_put, &sink, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		ret = -1;
	}
	ws_free_secret(text, len);
	return ret;
}
