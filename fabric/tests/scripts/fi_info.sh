#!/usr/bin/env bash
# fi_info.sh PROVIDER_DIR PBXRUN: `fi_info -p postbox` lists the provider inside a postbox job
# with its attributes (RDM, MSG and TAGGED, local and remote communication, 4 bytes of CQ data,
# manual progress, no RMA), and outside a job finds nothing and logs why.
set -euo pipefail
export FI_PROVIDER_PATH=${1:?usage: fi_info.sh PROVIDER_DIR PBXRUN}
pbxrun=${2:?}
out=$("$pbxrun" -N 1 -n 1 -- fi_info -p postbox -v)
for want in "prov_name: postbox" "type: FI_EP_RDM" "FI_MSG" "FI_TAGGED" "FI_DIRECTED_RECV" "FI_SOURCE" \
            "FI_LOCAL_COMM" "FI_REMOTE_COMM" "cq_data_size: 4" "data_progress: FI_PROGRESS_MANUAL" \
            "resource_mgmt: FI_RM_ENABLED" "mem_tag_format: 0xaaaaaaaaaaaaaaaa"; do
  grep -qF -- "$want" <<<"$out" || { echo "fi_info.sh: '$want' missing from fi_info -p postbox:"; echo "$out"; exit 1; }
done
if grep -qE "FI_RMA|FI_ATOMIC" <<<"$out"; then
  echo "fi_info.sh: fi_info lists RMA or atomics, which the provider does not offer"; exit 1
fi
# Outside a job: nothing, and the log says what to do.
if log=$(env -u PBX_JOB -u PBX_NODE -u PBX_LOCAL -u PMIX_NAMESPACE FI_LOG_LEVEL=warn fi_info -p postbox 2>&1); then
  echo "fi_info.sh: outside a job fi_info -p postbox found something:"; echo "$log"; exit 1
fi
grep -q "not part of a postbox job: start it with pbxrun" <<<"$log" ||
  { echo "fi_info.sh: no explanation in the log outside a job:"; echo "$log"; exit 1; }
echo "fi_info.sh: ok"
