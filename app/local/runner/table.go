package runner

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/voicemail-platform/voicemail/app/local/azurite"
)

// Row is one stamp's line in the status table.
type Row struct {
	Stamp, Region, Zone, HTTP, SIP, IMAP string
	Health                               int    // stamp health status, 0 when unreachable
	TM                                   string // Traffic Manager endpoint status
	Edge                                 string // how many edge instances route to it
}

// Rows probes every stamp and returns the table rows in topology order.
func (c *Cluster) Rows(ctx context.Context) []Row {
	tm := map[string]string{}
	if c.TM != nil {
		for _, st := range c.TM.Statuses() {
			tm[st.Name] = string(st.Status)
		}
	}
	edgeUp := map[string]int{}
	for _, e := range c.Edges {
		ids, _ := e.Up(ctx, c.Stamps)
		for _, id := range ids {
			edgeUp[id]++
		}
	}
	rows := make([]Row, len(c.Stamps))
	var wg sync.WaitGroup
	for i, s := range c.Stamps {
		wg.Go(func() {
			edge := "-"
			if len(c.Edges) > 0 {
				edge = fmt.Sprintf("%d/%d up", edgeUp[s.Stamp.ID], len(c.Edges))
			}
			rows[i] = Row{Stamp: s.Stamp.ID, Region: s.Stamp.Region, Zone: strconv.Itoa(s.Stamp.Zone),
				HTTP: s.HTTP, SIP: orDash(s.SIP), IMAP: orDash(s.IMAP), Health: c.HealthCode(ctx, s.Stamp.ID),
				TM: tm[s.Stamp.ID], Edge: edge}
		})
	}
	wg.Wait()
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PrintTable writes the stamps table and the entry points.
func (c *Cluster) PrintTable(ctx context.Context, w io.Writer) {
	c.WriteRows(w, c.Rows(ctx))
}

// WriteRows writes already probed rows with the entry points.
func (c *Cluster) WriteRows(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STAMP\tREGION\tZONE\tHTTP\tSIP\tIMAP\tHEALTH\tTRAFFIC MANAGER\tEDGES")
	for _, r := range rows {
		h := "down"
		if r.Health != 0 {
			h = strconv.Itoa(r.Health)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Stamp, r.Region, r.Zone, r.HTTP, r.SIP, r.IMAP, h, r.TM, r.Edge)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nTraffic Manager (HTTP API): %s\n", c.TMURL)
	for i, e := range c.Edges {
		fmt.Fprintf(w, "Edge %d: SIP %s (UDP+TCP, Kamailio)  IMAP %s (HAProxy)\n", i+1, orDash(e.SIPAddr()), orDash(e.IMAPAddr()))
	}
	for _, r := range c.Regions {
		fmt.Fprintf(w, "Region %s store: Azurite blob %d, queue %d, table %d\n", r.Name,
			r.Azurite.Port(azurite.Blob), r.Azurite.Port(azurite.Queue), r.Azurite.Port(azurite.Table))
	}
	fmt.Fprintf(w, "Operator token: %s\n", c.Token)
}

// Summary is a one-line digest of the rows, to notice changes.
func Summary(rows []Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s=%d/%s/%s;", r.Stamp, r.Health, r.TM, r.Edge)
	}
	return b.String()
}
