package runner

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
)

// Stamp ports come from a band below the kernel's ephemeral range (32768-60999 by default) and
// above the stamps' RTP ranges (20000+): a port picked with :0 and released again can be taken
// by any outgoing connection before the stamp binds it, which under load kills the stamp.
const stampPortLow, stampPortHigh = 25000, 30000

// stampPorts hands out ports of that band once each within this process.
var stampPorts = struct {
	sync.Mutex
	next int
}{next: stampPortLow}

// freePort returns a port of the band on host that is free now for TCP, and for UDP too when
// udp is set (SIP listens on both).
func freePort(host string, udp bool) (string, error) {
	stampPorts.Lock()
	defer stampPorts.Unlock()
	for range stampPortHigh - stampPortLow {
		port := stampPorts.next
		stampPorts.next++
		if stampPorts.next == stampPortHigh {
			stampPorts.next = stampPortLow
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		t, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		if udp {
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				t.Close()
				continue
			}
			u.Close()
		}
		t.Close()
		return addr, nil
	}
	return "", errors.New("local: no free port in the stamp port band")
}

func freeTCP(host string) (string, error) { return freePort(host, false) }

// freeUDPTCP returns a port free for both UDP and TCP.
func freeUDPTCP(host string) (string, error) { return freePort(host, true) }

// loopbackHosts hands out loopback addresses, one per replica and per stamp front end, as pods
// and load balancers have their own IPs. The second octet follows the process id so that two
// local systems on one machine rarely share addresses (ports are checked free either way).
var loopbackHosts = struct {
	sync.Mutex
	next int
}{}

func nextLoopback() (string, error) {
	loopbackHosts.Lock()
	defer loopbackHosts.Unlock()
	n := loopbackHosts.next
	if n >= 250*250 {
		return "", errors.New("local: loopback addresses exhausted")
	}
	loopbackHosts.next++
	return fmt.Sprintf("127.%d.%d.%d", 100+os.Getpid()%100, 1+n/250, 1+n%250), nil
}
