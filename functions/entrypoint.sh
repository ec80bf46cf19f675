#!/bin/sh
# The one image's entrypoint. Lambda passes the handler (image CMD) and runs the Lambda runtime
# interface client as the base image always did; AWS Batch passes "batch" (job definition
# command) and runs the training job: the same code, the same dependencies, two launchers.
set -e
if [ "$1" = "batch" ]; then
    shift
    exec python3 -m functions.handlers.batch_train "$@"
fi
exec /lambda-entrypoint.sh "$@"
