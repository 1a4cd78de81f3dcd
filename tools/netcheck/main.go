// Command netcheck is the probe image of the e2e tiers: an HTTP server, an HTTP/TCP client and a resolver, with
// exit codes a test can read from the pod phase.
//
//	netcheck serve :8080            answer every request with the pod's hostname
//	netcheck get URL [timeout]      exit 0 on HTTP 2xx
//	netcheck tcp HOST:PORT [timeout] exit 0 when the TCP connection opens
//	netcheck resolve NAME           exit 0 when NAME resolves
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: netcheck serve ADDR | get URL [timeout] | tcp HOST:PORT [timeout] | resolve NAME")
		os.Exit(2)
	}
	timeout := 5 * time.Second
	if len(os.Args) > 3 {
		if d, err := time.ParseDuration(os.Args[3]); err == nil {
			timeout = d
		}
	}
	switch os.Args[1] {
	case "serve":
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello from", host) })
		fmt.Println("serving on", os.Args[2])
		if err := http.ListenAndServe(os.Args[2], nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "get":
		c := http.Client{Timeout: timeout}
		resp, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Println("FAIL", err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		fmt.Println("status", resp.StatusCode)
		if resp.StatusCode/100 != 2 {
			os.Exit(1)
		}
		if len(os.Args) > 4 { // a pattern: print the body's lines containing it; none is a failure
			body, _ := io.ReadAll(resp.Body)
			found := false
			for _, l := range strings.Split(string(body), "\n") {
				if strings.Contains(l, os.Args[4]) {
					fmt.Println(l)
					found = true
				}
			}
			if !found {
				fmt.Println("FAIL no line contains", os.Args[4])
				os.Exit(1)
			}
		}
	case "tcp":
		conn, err := net.DialTimeout("tcp", os.Args[2], timeout)
		if err != nil {
			fmt.Println("FAIL", err)
			os.Exit(1)
		}
		conn.Close()
		fmt.Println("OK connected", os.Args[2])
	case "resolve":
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, os.Args[2])
		if err != nil {
			fmt.Println("FAIL", err)
			os.Exit(1)
		}
		fmt.Println("OK", addrs)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
