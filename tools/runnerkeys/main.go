//go:build runnerkeys

// Command runnerkeys decodes a rendered config.toml into the runner's own common.Config, the way gitlab-runner reads
// it, and prints every key the runner does not decode: the runner ignores those silently. It is built inside an
// extracted gitlab-runner source tree (internal/thirdparty copies it there), never in this module: the build tag
// keeps it out of `go build ./...`.
//
// Usage: runnerkeys config.toml
package main

import (
	"fmt"
	"os"

	"github.com/BurntSushi/toml"

	"gitlab.com/gitlab-org/gitlab-runner/common"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: runnerkeys config.toml")
		os.Exit(2)
	}
	var cfg common.Config
	md, err := toml.DecodeFile(os.Args[1], &cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "decoding:", err)
		os.Exit(1)
	}
	for _, k := range md.Undecoded() {
		fmt.Println("undecoded:", k.String())
	}
	fmt.Printf("decoded: %d keys, undecoded: %d\n", len(md.Keys()), len(md.Undecoded()))
}
