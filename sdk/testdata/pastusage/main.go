// Command pastusage records API calls in a stopped memoryd's data folder as if an org had
// made them last month, so that the SDK tests can close that month and read a real
// invoice (memoryd bills only months that have ended). It prints the month, YYYY-MM.
//
//	go run ./sdk/testdata/pastusage -data DIR -org ORG_ID [-calls N]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"memoryd/store"
)

func main() {
	data := flag.String("data", "", "data folder of a stopped memoryd")
	org := flag.String("org", "", "the org that made the calls")
	calls := flag.Int("calls", 1500, "how many calls")
	flag.Parse()
	if err := record(*data, *org, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "pastusage:", err)
		os.Exit(1)
	}
}

func record(data, org string, calls int) error {
	if data == "" || org == "" {
		return fmt.Errorf("-data and -org are required")
	}
	// store.Open would create a missing database: refuse a folder that is not memoryd's.
	if _, err := os.Stat(filepath.Join(data, "memoryd.db")); err != nil {
		return err
	}
	now := time.Now().UTC()
	last := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	st, err := store.Open(data, store.Options{})
	if err != nil {
		return err
	}
	evs := make([]store.UsageEvent, calls)
	for i := range evs {
		evs[i] = store.UsageEvent{OrgID: org, Mode: store.ModeLive, KeyID: "key_pastusage", Endpoint: "POST /v1/retrieve",
			Status: 200, At: last.Add(time.Duration(i) * time.Minute)}
	}
	if err := st.RecordUsage(evs); err != nil {
		st.Close()
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Println(last.Format("2006-01"))
	return nil
}
