package test

import (
	"io"
	"os"
)

func toReaders(fs []*os.File) []io.Reader {
	out := make([]io.Reader, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}
