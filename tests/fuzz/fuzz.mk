# tests/fuzz/fuzz.mk - the libFuzzer targets; included by the top-level
# Makefile, whose variables (BUILD, PLUGIN_SRCS, DB_TARBALL...) it uses.
#   make fuzz-targets   build every target into build/fuzz/bin/
#   make fuzz           run each for FUZZ_SECONDS (default 60), FUZZ_JOBS (2) at once
#   make fuzz-smoke     each for FUZZ_SMOKE_SECONDS from its seeds (what `make check` runs)
# Targets are plain clang + libFuzzer (Debian: clang, libclang-rt-dev).

FUZZ_CC = clang
FUZZ_CXX = clang++
FUZZ_SECONDS = 60
FUZZ_SMOKE_SECONDS = 2
FUZZ_JOBS = 2
FUZZ_DIR = $(BUILD)/fuzz
FUZZ_BIN = $(FUZZ_DIR)/bin
# Every kind of undefined behaviour stops the run, like a memory error.
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -g -O1 $(FUZZ_SANITIZE)

# --- our parsers: one target per tests/fuzz/fuzz_NAME.c ---
# The AEAD and CTR/MAC targets need the libcrypto cipher backend (./configure).
FUZZ_OURS = config dotenv lines json http envdir client_env eventlog agent_filter kube \
	$(if $(WS_CIPHER_LIBS),aead ctr_mac)
FUZZ_OUR_BINS = $(addprefix $(FUZZ_BIN)/fuzz_,$(FUZZ_OURS))
# The hook library's and the proxy's sources, instrumented for coverage,
# in one archive each target takes what it needs from.
FUZZ_LIB_SRCS = $(PLUGIN_SRCS) plugins/proxy/agent_filter.c
FUZZ_LIB_OBJS = $(patsubst plugins/%.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRCS))
FUZZ_LIB = $(FUZZ_DIR)/libws-fuzz.a
FUZZ_HDRS = tests/fuzz/fuzz.h tests/fuzz/fuzz_env.h

.PHONY: fuzz fuzz-smoke fuzz-targets fuzz-compiler

fuzz-compiler:
	@command -v $(FUZZ_CC) >/dev/null && command -v $(FUZZ_CXX) >/dev/null || { \
		echo "fuzzing needs $(FUZZ_CC) and libFuzzer: tests/deps.sh --install check" >&2; exit 1; }

$(FUZZ_DIR)/obj/%.o: plugins/%.c $(PLUGIN_HDRS) plugins/proxy/agent_filter.h | fuzz-compiler
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_HDRS) $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iplugins -Iplugins/proxy \
		-o $@ $< $(FUZZ_LIB)

# ws-gateway-kube's parsers (all of its sources but main.c), with its libraries
$(FUZZ_BIN)/fuzz_kube: tests/fuzz/fuzz_kube.c $(FUZZ_HDRS) $(FUZZ_LIB) $(KUBE_LIB_SRCS) \
		plugins/gateway/kube/kube.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iplugins -Iplugins/gateway/kube \
		-o $@ $< $(KUBE_LIB_SRCS) $(FUZZ_LIB) $(KUBE_LIBS)

$(FUZZ_BIN)/fuzz_aead: tests/fuzz/fuzz_aead.c tests/fuzz/fuzz.h dropbear/src/ws-evp-aead.c \
		dropbear/src/ws-evp-aead.h | fuzz-compiler
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(WS_CIPHER_CPPFLAGS) -Idropbear/src \
		-o $@ $< dropbear/src/ws-evp-aead.c $(WS_CIPHER_LIBS)

# checked against libtomcrypt, as upstream's CTR and HMAC
$(FUZZ_BIN)/fuzz_ctr_mac: tests/fuzz/fuzz_ctr_mac.c tests/fuzz/fuzz.h $(WS_EVP_SRCS) \
		$(WS_EVP_SRCS:.c=.h) | fuzz-compiler
	@mkdir -p $(@D)
	$(FUZZ_CC) $(WS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(WS_CIPHER_CPPFLAGS) -Idropbear/src \
		-o $@ $< $(WS_EVP_SRCS) $(WS_CIPHER_LIBS) -ltomcrypt

# --- upstream's fuzzers, built from the patched tree with our options ---
# A tree of its own: --enable-fuzz changes config.h and every object.
# The server's; left out are the client's (we ship no dbclient), kexecdh
# (NIST ECDH is compiled out by localoptions.h) and kexdh, whose setup
# looks up diffie-hellman-group14-sha256 in the kex table, where the
# default crypto profile (modern, patch 0011) has removed it.
FUZZ_UPSTREAM = fuzzer-preauth fuzzer-preauth_nomaths fuzzer-postauth_nomaths \
	fuzzer-pubkey fuzzer-verify fuzzer-kexcurve25519 \
	fuzzer-kexmlkem-srv fuzzer-kexsntrup-srv
FUZZ_UPSTREAM_BINS = $(addprefix $(FUZZ_BIN)/,$(FUZZ_UPSTREAM))
FUZZ_DB_DIR = $(FUZZ_DIR)/dropbear-$(DROPBEAR_VERSION)
FUZZ_DB_OUR_SRCS = $(patsubst $(DB_DIR)/%,$(FUZZ_DB_DIR)/%,$(DB_OUR_SRCS))

# Our series, then one change for the fuzz build only (its header says why).
FUZZ_DB_PATCH = tests/fuzz/upstream-no-pty.patch
$(FUZZ_DB_DIR)/.ws-patched: $(DB_TARBALL) $(PATCHES) $(FUZZ_DB_PATCH)
	rm -rf $(FUZZ_DB_DIR) $(FUZZ_DB_DIR).tmp
	mkdir -p $(FUZZ_DB_DIR).tmp
	tar -xjf $(DB_TARBALL) -C $(FUZZ_DB_DIR).tmp --strip-components=1
	dropbear/apply-patches.sh $(FUZZ_DB_DIR).tmp > /dev/null
	patch -d $(FUZZ_DB_DIR).tmp -p1 --batch --forward --fuzz=0 -s < $(FUZZ_DB_PATCH)
	mv $(FUZZ_DB_DIR).tmp $(FUZZ_DB_DIR)
	touch $@

$(FUZZ_DB_DIR)/src/ws_hook.h: plugins/ws_hook.h $(FUZZ_DB_DIR)/.ws-patched
	cp $< $@
$(FUZZ_DB_DIR)/src/ws-%: dropbear/src/ws-% $(FUZZ_DB_DIR)/.ws-patched
	cp $< $@
$(FUZZ_DB_DIR)/localoptions.h: dropbear/localoptions.h $(PIN) $(FUZZ_DB_DIR)/.ws-patched
	{ cat $<; echo; echo '#define DROPBEAR_VERSION "$(FORK_VERSION)"'; } > $@

# configure's test programs are built without the sanitizers (a third
# faster); the objects get them through the CFLAGS its Makefile appends to.
$(FUZZ_DB_DIR)/Makefile: $(FUZZ_DB_DIR)/.ws-patched Makefile | fuzz-compiler
	cd $(FUZZ_DB_DIR) && ./configure --enable-fuzz --disable-bundled-libtom --disable-pam \
		CC="$(FUZZ_CC)" CXX="$(FUZZ_CXX)" CFLAGS="-g -O1" \
		CPPFLAGS="$(WS_CIPHER_CPPFLAGS)" LIBS="$(WS_CIPHER_LIBS)" > configure.log 2>&1 \
		|| { tail -n 30 configure.log; echo "Dropbear's configure failed: $(FUZZ_DB_DIR)/configure.log" >&2; exit 1; }

# Two compilers at once unless this make already runs jobs (its jobserver).
FUZZ_DB_JOBS = $(if $(findstring --jobserver,$(MAKEFLAGS)),,-j2)
$(FUZZ_DB_DIR)/.ws-fuzzers: $(FUZZ_DB_DIR)/Makefile $(FUZZ_DB_DIR)/localoptions.h $(FUZZ_DB_OUR_SRCS)
	env CFLAGS="$(FUZZ_SANITIZE) -fsanitize=fuzzer-no-link" $(MAKE) $(FUZZ_DB_JOBS) -C $(FUZZ_DB_DIR) \
		$(FUZZ_UPSTREAM) $(DB_OUR_OBJS) FUZZLIB= CXXFLAGS="$(FUZZ_SANITIZE) -fsanitize=fuzzer" \
		> $(FUZZ_DB_DIR)/build.log 2>&1 \
		|| { tail -n 30 $(FUZZ_DB_DIR)/build.log; echo "upstream fuzzers: see $(FUZZ_DB_DIR)/build.log" >&2; exit 1; }
	touch $@

$(FUZZ_UPSTREAM_BINS): $(FUZZ_DB_DIR)/.ws-fuzzers
	@mkdir -p $(@D)
	cp $(FUZZ_DB_DIR)/$(@F) $@

fuzz-targets: $(FUZZ_OUR_BINS) $(FUZZ_UPSTREAM_BINS)

# FUZZ_TARGETS="fuzz_json fuzzer-preauth" picks some; FUZZ_JOBS run at once.
fuzz: fuzz-targets
	tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-targets
	tests/fuzz/run.sh --fresh --seconds $(FUZZ_SMOKE_SECONDS) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)
