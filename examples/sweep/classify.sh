# The analysis stage of the sweep example: run once for each failed trial, with
# TRIAL_TASK, TRIAL_AGENT, TRIAL_MODEL, TRIAL_STATUS and TRIAL_ERROR set; writes
# its classification to $DROVER_OUTPUT.
case "$TRIAL_ERROR" in
  *acceptance*) category=wrong-answer ;;
  *timed\ out* | *TIMEOUT*) category=timeout ;;
  *) category=other ;;
esac
printf '{"category": "%s", "summary": "%s by %s"}' "$category" "$TRIAL_STATUS" "$TRIAL_AGENT" > "$DROVER_OUTPUT"
