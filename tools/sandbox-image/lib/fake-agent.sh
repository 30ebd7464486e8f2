# Shared by the fake agent CLIs of the sandbox test image (busybox sh, sourced after
# FAKE_NAME, EXPECTED, MODEL_FLAG and TRAILING are set). A fake accepts exactly the
# command line its adapter in libs/execution/src/agents writes, reads the prompt, runs
# $FAKE_AGENT_SCRIPT as the agent's work and prints the real CLI's structured output with
# fixed figures and a final message the tests can check (see message_lines).

# fail MESSAGE: refuses, as a CLI does a bad command line.
fail() {
  echo "$FAKE_NAME: $*" >&2
  exit 2
}

# refuse ARG: an argument the adapter never passes.
refuse() {
  case $1 in
    -*) fail "unknown or misplaced flag: $1" ;;
    *) fail "refusing a prompt given as an argument: $1" ;;
  esac
}

# check_args ARG...: the arguments must be $EXPECTED word for word (a word "=NAME" takes
# any value into $NAME), then optionally "$MODEL_FLAG MODEL" (into $model), then any
# "$CONFIG_FLAG SETTING" pairs (into $configs, one a line) where CONFIG_FLAG is set, then
# $TRAILING.
check_args() {
  model=
  configs=
  for want in $EXPECTED; do
    [ "$#" -gt 0 ] || fail "missing argument: $want"
    case $want in
      =*) eval "${want#=}=\$1" ;;
      *) [ "$1" = "$want" ] || refuse "$1" ;;
    esac
    shift
  done
  if [ "$#" -ge 2 ] && [ "$1" = "$MODEL_FLAG" ]; then
    model=$2
    shift 2
  fi
  while [ -n "$CONFIG_FLAG" ] && [ "$#" -ge 2 ] && [ "$1" = "$CONFIG_FLAG" ]; do
    configs="$configs$2
"
    shift 2
  done
  for want in $TRAILING; do
    [ "$#" -gt 0 ] && [ "$1" = "$want" ] || fail "missing argument: $want"
    shift
  done
  [ "$#" -eq 0 ] || refuse "$1"
}

# read_prompt FILE: the prompt from FILE ("-": stdin); sets $first_line and $prompt_sha.
read_prompt() {
  prompt_file=$(mktemp) || exit 1
  if [ "$1" = - ]; then
    cat > "$prompt_file"
  else
    cat -- "$1" > "$prompt_file" || fail "cannot read the prompt file $1"
  fi
  [ -s "$prompt_file" ] || fail "empty prompt"
  first_line=$(head -n 1 "$prompt_file")
  prompt_sha=$(sha256sum < "$prompt_file" | cut -d ' ' -f 1)
  rm -f "$prompt_file"
}

# run_agent: $FAKE_AGENT_SCRIPT in the working directory, its output on stderr (a CLI does
# not print its tools' output raw); its failure is the CLI's.
run_agent() {
  [ -n "$FAKE_AGENT_SCRIPT" ] || return 0
  sh -c "$FAKE_AGENT_SCRIPT" >&2 || {
    status=$?
    echo "$FAKE_NAME: FAKE_AGENT_SCRIPT exited with $status" >&2
    exit "$status"
  }
}

# seen_keys: the *_API_KEY variables in the environment, sorted, comma-separated.
seen_keys() {
  keys=$(
    unset DROVER_PROMPT FAKE_AGENT_SCRIPT
    env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*_API_KEY\)=.*/\1/p' | sort | tr '\n' ',' | sed 's/,$//'
  )
  echo "${keys:-none}"
}

# message_lines: the final message, and $extra_line where a fake sets one.
message_lines() {
  printf 'prompt: %s\nprompt sha256: %s\nmodel: %s\nkeys: %s\n' \
    "$first_line" "$prompt_sha" "${model:-(default)}" "$(seen_keys)"
  [ -z "$extra_line" ] || printf '%s\n' "$extra_line"
}

# json_text: stdin as the body of a JSON string (lines joined by \n).
json_text() {
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$(printf '\t')/\\\\t/g" |
    tr -d '\000-\010\013-\037' |
    awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }'
}
