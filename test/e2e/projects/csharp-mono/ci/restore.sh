#!/bin/sh
# Restore the dependencies into $NUGET_PACKAGES (the runner cache keeps it under the dotnet-builds key): reuse what
# the cache brought back, else build the package from the local package source.
set -eu
pkgs=${NUGET_PACKAGES:-.nuget/packages}
dll=$pkgs/greeting/1.0.0/lib/Greeting.dll
if [ -f "$dll" ]; then
  echo "restore: greeting 1.0.0 restored from the package cache ($dll)"
  exit 0
fi
echo "restore: greeting 1.0.0 not in the package cache: building it from packages/greeting"
mkdir -p "$(dirname "$dll")"
mcs -nologo -target:library -out:"$dll" packages/greeting/*.cs
