#!/usr/bin/env bash
# Static PIC archives of every library the wheels link (zlib, OpenSSL,
# nghttp2, a minimal libcurl, protobuf-c, jansson, hiredis), built from
# Debian bookworm's source packages into build/wheel-deps/prefix, which
# CMake takes as CONFIDENCE_STATIC_DEPS_PREFIX.
#
# The sources are resolved once through a private apt configuration (deb-src
# lines of bookworm and bookworm-security, signed by Debian's keyring; the
# system's apt setup is not touched), downloaded and checked against the
# SHA-256 of the signed index, and recorded in sources.lock: later runs need
# no network. Each library is rebuilt only when its tarball or this script
# changes. Debian's own patch series (its security fixes) is applied where
# the package's .debian.tar.xz is on the mirror and the upstream release is
# older than Debian's (curl, nghttp2); OpenSSL, zlib, jansson, protobuf-c
# and hiredis are built from the upstream tarball as Debian ships it.
#
# libcurl: HTTP and HTTPS only (OpenSSL, HTTP/2 via nghttp2, zlib), no
# LDAP, SSH, RTMP, GSSAPI, IDN, PSL, brotli, zstd, and no compiled-in CA
# bundle or path (the library sets CURLOPT_CAINFO/CAPATH itself).
#
# Usage: scripts/wheel-deps.sh            (prints the prefix as its last line)
# Env:   WHEEL_DEPS_DIR     where to work (default build/wheel-deps)
#        JOBS               parallel make jobs (default 2)
#        WHEEL_DEPS_REFRESH=1  resolve the sources again (Debian's newest
#                           bookworm versions) instead of those in sources.lock
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
top="${WHEEL_DEPS_DIR:-$repo/build/wheel-deps}"
jobs="${JOBS:-2}"
src="$top/src"
work="$top/work"
prefix="$top/prefix"
lock="$src/sources.lock"
mkdir -p "$src" "$work" "$prefix"

# Source package -> whether its Debian patch series is needed.
packages=(zlib openssl nghttp2 curl protobuf-c jansson hiredis)
declare -A needs_debian_patches=([curl]=1 [nghttp2]=1)
# Libraries compiled against another's headers: rebuilt when that one is.
declare -A built_against=([curl]="zlib openssl nghttp2")

log() { echo "wheel-deps: $*" >&2; }
die() { echo "wheel-deps: ERROR: $*" >&2; exit 1; }

# ---- sources -----------------------------------------------------------------
apt_opts=()
apt_setup() {
  local apt="$top/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  cat >"$apt/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
  apt_opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/none"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Debug::NoLocking=1")
  log "resolving source packages (apt-get update of a private deb-src list)"
  apt-get "${apt_opts[@]}" update -qq
}

# Downloads $1 to $2 and checks SHA-256 $3. The security archive's pool lacks
# some files its index names (an orig tarball shared with the main archive):
# the same path in the main pool is tried next; the hash decides either way.
fetch_checked() {
  local url="$1" out="$2" sha="$3" alt
  alt="${url/\/debian-security\/pool\/updates\//\/debian\/pool\/}"
  rm -f "$out.part"
  if ! curl -fsSL --retry 3 -o "$out.part" "$url"; then
    [[ "$alt" != "$url" ]] || return 1
    log "  not at $url, trying $alt"
    curl -fsSL --retry 3 -o "$out.part" "$alt" || return 1
  fi
  [[ "$(sha256sum "$out.part" | cut -d' ' -f1)" == "$sha" ]] || die "$out: SHA-256 mismatch"
  mv "$out.part" "$out"
}

# Writes sources.lock: "<package> <kind> <file> <sha256>" for each orig
# tarball, and each needed Debian patch tarball.
resolve_sources() {
  apt_setup
  local tmp="$lock.tmp" p url file size hash kind
  : >"$tmp"
  for p in "${packages[@]}"; do
    local uris
    uris=$(apt-get "${apt_opts[@]}" source --print-uris --only-source "$p" | grep "^'")
    while read -r url file size hash; do
      url="${url//\'/}"
      case "$file" in
        *.orig.tar.*.asc) continue ;;
        *.orig.tar.*) kind=orig ;;
        *.debian.tar.*) [[ -n "${needs_debian_patches[$p]:-}" ]] || continue; kind=debian ;;
        *) continue ;;
      esac
      [[ "$hash" == SHA256:* ]] || die "$file: apt gave no SHA-256 ($hash)"
      log "fetching $file ($size bytes)"
      fetch_checked "$url" "$src/$file" "${hash#SHA256:}" || die "$file: cannot download $url"
      echo "$p $kind $file ${hash#SHA256:}" >>"$tmp"
    done <<<"$uris"
    grep -q "^$p orig " "$tmp" || die "$p: no orig tarball in the index"
  done
  mv "$tmp" "$lock"
}

lock_ok() {
  [[ -f "$lock" ]] || return 1
  local p kind file sha
  while read -r p kind file sha; do
    [[ -f "$src/$file" && "$(sha256sum "$src/$file" | cut -d' ' -f1)" == "$sha" ]] || return 1
  done <"$lock"
}
if [[ -n "${WHEEL_DEPS_REFRESH:-}" ]] || ! lock_ok; then resolve_sources; fi

tarball() { awk -v p="$1" -v k="$2" '$1 == p && $2 == k { print $3 }' "$lock"; }

# ---- building ----------------------------------------------------------------
# Nothing of the system's libraries may leak into the archives' configure
# checks: pkg-config sees only the prefix.
export PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH=""
export CFLAGS="-O2 -g0 -fPIC -ffunction-sections -fdata-sections"
export CPPFLAGS="-I$prefix/include" LDFLAGS="-L$prefix/lib"

# Unpacks package $1 into a fresh work/$1 and cds into its top directory.
unpack() {
  local p="$1" orig deb dir
  orig="$(tarball "$p" orig)"
  rm -rf "${work:?}/$p"
  mkdir -p "$work/$p"
  tar -xf "$src/$orig" -C "$work/$p"
  dir=$(find "$work/$p" -mindepth 1 -maxdepth 1 -type d)
  [[ $(wc -l <<<"$dir") == 1 ]] || die "$orig: expected one top directory"
  cd "$dir"
  deb="$(tarball "$p" debian)"
  if [[ -n "${needs_debian_patches[$p]:-}" ]]; then
    [[ -n "$deb" ]] || die "$p: Debian's patch tarball is required but not in sources.lock"
    apply_debian_patches "$src/$deb"
  fi
}

# Applies debian/patches/series in order, up to Debian's marker after which
# only the other TLS flavours' packaging patches follow. The patches that
# touch configure.ac or Makefile.am are Debian packaging changes; the
# autotools outputs are then marked newer so make never regenerates them.
apply_debian_patches() {
  local tarball="$1" name
  tar -xf "$tarball"
  while read -r name; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    patch -p1 --quiet --forward <"debian/patches/$name" >/dev/null ||
      die "$(basename "$PWD"): patch $name does not apply"
  done < <(sed '/Do not add patches below/q' debian/patches/series)
  find . \( -name aclocal.m4 -o -name configure -o -name Makefile.in -o -name '*config.h.in' \) \
    -exec touch {} +
  log "  applied Debian's patch series ($(grep -c '^[^#]' debian/patches/series) entries listed)"
}

# Runs build_$1 unless its stamp says the same sources, flags and build
# steps made it (an edit of another library's steps rebuilds only that one).
build() {
  local p="$1" stamp="$prefix/.stamp-$1" want
  local dep
  want="$( (grep "^$p " "$lock"; echo "$CFLAGS"; declare -f unpack apply_debian_patches cmake_lib "build_$p"
    for dep in ${built_against[$p]:-}; do cat "$prefix/.stamp-$dep"; done) | sha256sum | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then return 0; fi
  log "building $p"
  local start=$SECONDS
  # A subshell of its own with errexit on (in `( ) || ...` it would be off).
  local rc=0
  set +e
  (set -e; unpack "$p"; "build_$p") >"$work/$p.log" 2>&1
  rc=$?
  set -e
  if ((rc)); then
    tail -40 "$work/$p.log" >&2
    die "$p: build failed (full log: $work/$p.log)"
  fi
  echo "$want" >"$stamp"
  log "  $p built in $((SECONDS - start)) s"
}

build_zlib() {
  ./configure --static --prefix="$prefix" --libdir="$prefix/lib"
  make -j"$jobs" libz.a
  make install
}

build_openssl() {
  # Configured for upstream's default locations (OPENSSLDIR, and the module
  # and engine folders, are compiled in), never a path of the build machine;
  # installed into a staging folder and moved to the prefix. The library
  # never relies on its compiled-in CA locations.
  ./Configure linux-x86_64 --prefix=/usr/local --libdir=lib --openssldir=/usr/local/ssl \
    no-shared no-module no-engine no-dso no-tests no-comp no-ssl3 no-weak-ssl-ciphers no-srp
  make -j"$jobs" build_libs
  make install_dev DESTDIR="$PWD/_inst"
  local staged="$PWD/_inst/usr/local"
  rm -rf "$prefix/include/openssl"
  cp -r "$staged/include/openssl" "$prefix/include/"
  cp "$staged"/lib/libcrypto.a "$staged"/lib/libssl.a "$prefix/lib/"
  mkdir -p "$prefix/lib/pkgconfig"
  local pc
  for pc in libcrypto libssl openssl; do
    sed "s|^prefix=.*|prefix=$prefix|" "$staged/lib/pkgconfig/$pc.pc" >"$prefix/lib/pkgconfig/$pc.pc"
  done
}

# Builds and installs the CMake project in the current directory (the orig
# tarballs of nghttp2 and jansson carry no generated configure script).
# Their cmake_minimum_required predates what CMake 4 accepts by default.
cmake_lib() {
  cmake -S . -B _build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "$@"
  cmake --build _build -j"$jobs"
  cmake --install _build
}

build_nghttp2() {
  cmake_lib -DENABLE_LIB_ONLY=ON -DENABLE_STATIC_LIB=ON -DENABLE_SHARED_LIB=OFF -DENABLE_DOC=OFF \
    -DWITH_LIBXML2=OFF -DWITH_JEMALLOC=OFF
}

build_curl() {
  ./configure --prefix="$prefix" --disable-shared --enable-static --with-pic \
    --with-openssl="$prefix" --with-nghttp2="$prefix" --with-zlib="$prefix" \
    --disable-ldap --disable-ldaps --without-libssh2 --without-libssh --without-librtmp \
    --without-gssapi --without-libidn2 --without-libpsl --without-brotli --without-zstd \
    --without-ca-bundle --without-ca-path --without-ca-fallback --without-hyper \
    --without-nghttp3 --without-ngtcp2 --without-quiche --without-msh3 \
    --disable-ftp --disable-file --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
    --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
    --disable-manual --disable-ntlm --disable-ntlm-wb --disable-unix-sockets \
    --enable-threaded-resolver
  make -j"$jobs" -C lib
  make -C lib install
  make -C include install
  make install-pkgconfigDATA
  # What this libcurl is: checked, not assumed.
  local features
  features=$(grep -E '^#define (USE_|HAVE_LIB|CURL_CA_)' lib/curl_config.h)
  echo "$features"
  grep -q '^#define USE_OPENSSL 1' <<<"$features" || die "curl: no OpenSSL"
  grep -q '^#define USE_NGHTTP2 1' <<<"$features" || die "curl: no nghttp2"
  grep -q '^#define HAVE_LIBZ 1' <<<"$features" || die "curl: no zlib"
  if grep -E 'CURL_CA_(BUNDLE|PATH)|USE_(LIBSSH|GNUTLS|GSASL|LIBRTMP|GSSAPI|LIBIDN2|LIBPSL|BROTLI|ZSTD)' \
    <<<"$features"; then die "curl: an excluded feature is on"; fi
}

build_protobuf-c() {
  ./configure --prefix="$prefix" --disable-shared --enable-static --with-pic --disable-protoc
  make -j"$jobs"
  make install
}

build_jansson() {
  cmake_lib -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON \
    -DJANSSON_EXAMPLES=OFF
}

build_hiredis() {
  # hiredis's Makefile installs its shared library too: it installs into a
  # folder of its own, from which only the headers and the archive are taken.
  make -j"$jobs" CFLAGS="$CFLAGS" OPTIMIZATION="" DEBUG_FLAGS=""
  make install PREFIX="$PWD/_inst" CFLAGS="$CFLAGS" OPTIMIZATION="" DEBUG_FLAGS=""
  rm -rf "$prefix/include/hiredis"
  cp -r _inst/include/hiredis "$prefix/include/"
  cp _inst/lib/libhiredis.a "$prefix/lib/"
}

for p in "${packages[@]}"; do build "$p"; done
echo "$prefix"
