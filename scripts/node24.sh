# Source this file (`. scripts/node24.sh`) before `npm ci`, `npm start` or
# `npm test`: it makes sure this shell runs Node.js 24 LTS.
#
# Node.js 20 reached end of life on 2026-04-30 and mail2sms needs 24. Where the
# machine's `node` is older, this fetches Node.js 24 from the npm registry's
# `node` package (no other download) into a folder outside the project, so that
# an `npm ci` in the checkout cannot prune it, and puts it first on PATH. As
# root that folder is /usr/local/lib/mail2sms/node-24, which other users can
# run too (the tests start the daemon as an unprivileged user; /root is 0700);
# otherwise ~/.cache/mail2sms/node-24.
# npm_config_nodedir points node-gyp at that tree's headers, so better-sqlite3
# compiles against Node 24's ABI rather than the system's (npm here may be set
# to nodedir=/usr, Node 20's headers). Set MAIL2SMS_NODE_DIR to use another cache.
# Nothing happens when `node` is already 24 or newer.

m2s_node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$m2s_node_major" -lt 24 ]; then
  case "$(uname -m)" in
    x86_64) m2s_node_arch=x64 ;;
    aarch64 | arm64) m2s_node_arch=arm64 ;;
    *) m2s_node_arch=$(uname -m) ;;
  esac
  if [ "$(id -u)" = 0 ]; then m2s_node_home=/usr/local/lib/mail2sms; else m2s_node_home=${XDG_CACHE_HOME:-$HOME/.cache}/mail2sms; fi
  m2s_node_dir=${MAIL2SMS_NODE_DIR:-$m2s_node_home/node-24}
  m2s_node_tree=$m2s_node_dir/node_modules/node/node_modules/node-linux-$m2s_node_arch
  if [ ! -x "$m2s_node_tree/bin/node" ]; then
    echo "mail2sms: this shell has Node.js ${m2s_node_major}; fetching Node.js 24 from the npm registry into $m2s_node_dir" >&2
    mkdir -p "$m2s_node_dir"
    # The `node` package installs the binary for this machine in its preinstall script.
    printf '{ "private": true, "allowScripts": { "node": true } }\n' > "$m2s_node_dir/package.json"
    (cd "$m2s_node_dir" && npm install --no-audit --no-fund --loglevel=error node@24 >&2)
  fi
  if [ -x "$m2s_node_tree/bin/node" ]; then
    PATH="$m2s_node_tree/bin:$PATH"
    npm_config_nodedir=$m2s_node_tree
    export PATH npm_config_nodedir
  else
    echo "mail2sms: could not install Node.js 24 into $m2s_node_dir; install Node.js 24 LTS (https://nodejs.org) and run again" >&2
  fi
fi
unset m2s_node_major m2s_node_arch m2s_node_home m2s_node_dir m2s_node_tree
