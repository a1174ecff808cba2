package backtest

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// MaxInvalidSamples is how many invalid records a [Summary] keeps, the
// first ones found.
const MaxInvalidSamples = 5

// InvalidRecord is an input record that is not a valid event.
type InvalidRecord struct {
	// Line is the 1-based line of a JSONL input; 0 for a Kafka message.
	Line int64
	// Partition and Offset place a Kafka message.
	Partition int
	Offset    int64
	// Err says why, normally a *schema.EventError.
	Err error
}

// String is "line N: reason" or "partition P offset O: reason".
func (r InvalidRecord) String() string {
	if r.Line > 0 {
		return fmt.Sprintf("line %d: %v", r.Line, r.Err)
	}
	return fmt.Sprintf("partition %d offset %d: %v", r.Partition, r.Offset, r.Err)
}

// Summary counts what a backtest read and what would have fired.
type Summary struct {
	// Records are the records read: non-blank lines or messages.
	Records int64
	// Events are the valid records, all evaluated.
	Events int64
	// Invalid are the records that are not valid events, by reason
	// (the schema.Reason* constants) in InvalidByReason, and the first
	// MaxInvalidSamples of them in InvalidSamples.
	Invalid         int64
	InvalidByReason map[string]int64
	InvalidSamples  []InvalidRecord
	// NoLifecycle counts the events whose customer had no lifecycle, after
	// the accounts' filled it in: signals with an audience read them as
	// prospects, so a customer-only signal never counts them.
	NoLifecycle int64
	// Partitions is the number of partitions (engines) seen.
	Partitions int
	// First and Last are the earliest and latest event times.
	First, Last time.Time

	// Alerts is the number of alerts fired.
	Alerts int64
	// WhereStopped counts where evaluations stopped at their cost or size
	// limit (see detector.MaxWhereCost): the event did not match.
	WhereStopped int64
	// BySignal counts alerts by signal id; every signal evaluated has an
	// entry, zero when it never fired.
	BySignal map[string]int64
	// ByDay counts alerts by the UTC date of their event time, "2006-01-02".
	ByDay map[string]int64
	// ByPriority counts alerts by priority.
	ByPriority map[string]int64
	// ByRep counts alerts by the owner of their account, NoOwner for
	// alerts of accounts without one; nil when no accounts were given.
	ByRep map[string]int64
}

func (s *Summary) init(signals []*detector.Signal, reps bool) {
	s.InvalidByReason = map[string]int64{}
	s.BySignal = map[string]int64{}
	s.ByDay = map[string]int64{}
	s.ByPriority = map[string]int64{}
	for _, sig := range signals {
		s.BySignal[sig.ID] = 0
	}
	if reps {
		s.ByRep = map[string]int64{}
	}
}

func (s *Summary) addInvalid(recs []InvalidRecord) {
	for _, r := range recs {
		s.Invalid++
		reason := schema.ReasonNotJSON
		var ee *schema.EventError
		if errors.As(r.Err, &ee) {
			reason = ee.Reason
		}
		s.InvalidByReason[reason]++
		if len(s.InvalidSamples) < MaxInvalidSamples {
			s.InvalidSamples = append(s.InvalidSamples, r)
		}
	}
}

func (s *Summary) addEvent(ev *schema.Event) {
	s.Events++
	if ev.Customer.Lifecycle == "" {
		s.NoLifecycle++
	}
	if s.First.IsZero() || ev.Time.Before(s.First) {
		s.First = ev.Time
	}
	if ev.Time.After(s.Last) {
		s.Last = ev.Time
	}
}

func (s *Summary) addAlert(a *schema.Alert, rep string) {
	s.Alerts++
	s.BySignal[a.SignalID]++
	s.ByDay[a.Time.UTC().Format(time.DateOnly)]++
	s.ByPriority[a.Priority]++
	if s.ByRep != nil {
		if rep == "" {
			rep = NoOwner
		}
		s.ByRep[rep]++
	}
}

// priorities are the priorities, most urgent first.
var priorities = []string{schema.PriorityUrgent, schema.PriorityHigh, schema.PriorityMedium, schema.PriorityLow}

// WriteText writes the summary for people: the counts of events, then
// alerts per signal and per rep (most first), per day (in date order) and
// per priority (most urgent first), then the invalid records found. Without
// accounts it says how to get the per-rep counts.
func (s *Summary) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "events:   %s read, %s valid, %s invalid", group(s.Records), group(s.Events), group(s.Invalid))
	if s.Partitions > 1 {
		fmt.Fprintf(bw, ", %d partitions", s.Partitions)
	}
	fmt.Fprintln(bw)
	if s.Events > 0 {
		fmt.Fprintf(bw, "time:     %s to %s\n", s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(bw, "alerts:   %s\n", group(s.Alerts))

	writeCounts(bw, "per signal", byCount(s.BySignal))
	days := sortedKeys(s.ByDay)
	writeCounts(bw, "per day (event time, UTC)", days)
	var pri []countRow
	for _, p := range priorities {
		pri = append(pri, countRow{p, s.ByPriority[p]})
	}
	writeCounts(bw, "per priority", pri)
	if s.ByRep == nil {
		fmt.Fprintln(bw, "\nper rep: (no owners given; pass --owners accounts.csv)")
	} else {
		writeCounts(bw, "per rep", byCount(s.ByRep))
	}

	if s.Invalid > 0 {
		fmt.Fprintf(bw, "\ninvalid events: %s (", group(s.Invalid))
		for i, r := range byCount(s.InvalidByReason) {
			if i > 0 {
				bw.WriteString(", ")
			}
			fmt.Fprintf(bw, "%s %s", r.key, group(r.n))
		}
		fmt.Fprintf(bw, "); the first %d:\n", len(s.InvalidSamples))
		for _, r := range s.InvalidSamples {
			fmt.Fprintf(bw, "  %s\n", r)
		}
	}
	return bw.Flush()
}

type countRow struct {
	key string
	n   int64
}

func byCount(m map[string]int64) []countRow {
	rows := make([]countRow, 0, len(m))
	for k, n := range m {
		rows = append(rows, countRow{k, n})
	}
	slices.SortFunc(rows, func(a, b countRow) int {
		return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.key, b.key))
	})
	return rows
}

func sortedKeys(m map[string]int64) []countRow {
	rows := byCount(m)
	slices.SortFunc(rows, func(a, b countRow) int { return strings.Compare(a.key, b.key) })
	return rows
}

func writeCounts(w io.Writer, title string, rows []countRow) {
	fmt.Fprintf(w, "\n%s:\n", title)
	if len(rows) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r.key))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %9s\n", width, r.key, group(r.n))
	}
}

// group formats n with thousands separators: 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// AlertRecord is one alert as `dowser signals backtest --format jsonl`
// writes it, one JSON object per line.
type AlertRecord struct {
	Signal        string    `json:"signal"`
	SignalVersion int       `json:"signal_version"`
	Subject       string    `json:"subject"`
	EventID       string    `json:"event_id"`
	Time          time.Time `json:"time"`
	Priority      string    `json:"priority"`
	Message       string    `json:"message"`
	Count         int       `json:"count"`
	CustomerID    string    `json:"customer_id"`
	AccountID     string    `json:"account_id,omitempty"`
	// Rep is the account's owner, when accounts were given.
	Rep string `json:"rep,omitempty"`
	// ID is the alert id the live service would store.
	ID string `json:"id"`
	// Evidence are the ids of the evidence events, oldest first.
	Evidence []string `json:"evidence"`
}

// NewAlertRecord returns the record of an alert whose account is owned by
// rep ("" when unknown).
func NewAlertRecord(a *schema.Alert, rep string) AlertRecord {
	ids := make([]string, len(a.Evidence))
	for i, e := range a.Evidence {
		ids[i] = e.EventID
	}
	return AlertRecord{
		Signal: a.SignalID, SignalVersion: a.SignalVersion, Subject: a.Subject, EventID: a.EventID,
		Time: a.Time, Priority: a.Priority, Message: a.Message, Count: a.Count,
		CustomerID: a.CustomerID, AccountID: a.AccountID, Rep: rep, ID: a.ID, Evidence: ids,
	}
}

// LoadAccounts reads a CSV file of accounts: account_id,owner and an
// optional third column, lifecycle (customer or prospect). A first row
// starting with "account_id" is a header; lines starting with '#' are
// comments. An empty owner or lifecycle is allowed and means unknown.
func LoadAccounts(path string) (map[string]Account, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading accounts: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	accounts := map[string]Account{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return accounts, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		if first && strings.EqualFold(strings.TrimSpace(rec[0]), "account_id") {
			continue
		}
		if len(rec) < 2 || len(rec) > 3 {
			return nil, fmt.Errorf("%s:%d: want account_id,owner[,lifecycle], got %d fields", path, line, len(rec))
		}
		id := strings.TrimSpace(rec[0])
		if id == "" {
			return nil, fmt.Errorf("%s:%d: empty account_id", path, line)
		}
		a := Account{Owner: strings.TrimSpace(rec[1])}
		if len(rec) == 3 {
			switch lc := strings.TrimSpace(rec[2]); lc {
			case "", schema.LifecycleCustomer, schema.LifecycleProspect:
				a.Lifecycle = lc
			default:
				return nil, fmt.Errorf("%s:%d: lifecycle %q is not customer or prospect", path, line, lc)
			}
		}
		accounts[id] = a
	}
}

// LifecycleWarnings say why a customer-only signal fired nothing when
// events carried no lifecycle: the service fills it from its accounts, a
// backtest only from the owners file (owners: one was given), and an
// unknown lifecycle counts as a prospect. None when every event had one.
func (s *Summary) LifecycleWarnings(signals []*detector.Signal, owners bool) []string {
	if s.NoLifecycle == 0 {
		return nil
	}
	var out []string
	for _, sig := range signals {
		if sig.Audience != detector.AudienceCustomer || s.BySignal[sig.ID] > 0 {
			continue
		}
		hint := "give --owners FILE with account_id,owner,lifecycle rows, as the service fills lifecycles from its accounts"
		if owners {
			hint = "the --owners file gives no lifecycle for their accounts: add a third column, customer or prospect"
		}
		out = append(out, fmt.Sprintf("%s counts customers only and fired nothing, but %d of %d events carried no lifecycle and were read as prospects: %s",
			sig.ID, s.NoLifecycle, s.Events, hint))
	}
	return out
}
