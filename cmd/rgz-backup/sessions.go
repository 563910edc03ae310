package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mosaique/rgz-backup/internal/catalog"
	"github.com/mosaique/rgz-backup/internal/config"
)

func sessionsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "The console's live sessions: list them, revoke them", Args: cobra.NoArgs}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the console's live sessions (every replica's: they live in the catalog)",
		Args:  cobra.NoArgs,
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return withCatalog(cmd.Context(), func(store *catalog.Store) error {
				live, err := store.LiveSessions(cmd.Context(), time.Now())
				if err != nil {
					return err
				}
				if asJSON {
					type row struct {
						ID        int64     `json:"id"`
						Subject   string    `json:"subject"`
						Role      string    `json:"role"`
						CreatedAt time.Time `json:"created_at"`
						ExpiresAt time.Time `json:"expires_at"`
						Client    string    `json:"client"`
					}
					rows := make([]row, len(live))
					for i, s := range live {
						rows[i] = row{s.ID, s.Subject, s.Role, s.CreatedAt, s.ExpiresAt, s.Client}
					}
					return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"sessions": rows})
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tSUBJECT\tROLE\tOPENED (UTC)\tENDS (UTC)\tFROM")
				for _, s := range live {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Subject, s.Role, s.CreatedAt.Format("2006-01-02 15:04"), s.ExpiresAt.Format("2006-01-02 15:04"), s.Client)
				}
				if len(live) == 0 {
					fmt.Fprintln(w, "(no live session)")
				}
				return w.Flush()
			})
		}),
	}
	list.Flags().BoolVar(&asJSON, "json", false, `print {"sessions": [...]}`)

	var subject string
	var all bool
	revoke := &cobra.Command{
		Use:   "revoke ID | --subject SUBJECT | --all",
		Short: "End console sessions now: one by its id, every one of a subject, or all",
		Long: `End console sessions now: the next request of their browser goes to the
login page, on every replica. ID is what "sessions list" shows; SUBJECT is
who the audit names (token:NAME, jwt:SUB, oidc:SUB).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var which catalog.Revoke
			named := 0
			if len(args) == 1 {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || id <= 0 {
					return &config.Error{Var: "ID", Value: args[0], Allowed: `must be a session's id (a number "sessions list" shows)`}
				}
				which.ID, named = id, named+1
			}
			if subject != "" {
				which.Subject, named = subject, named+1
			}
			if all {
				which.All, named = true, named+1
			}
			if named != 1 {
				return &config.Error{Var: "revoke", Value: fmt.Sprint(args), Allowed: "takes one of: an ID, --subject SUBJECT, --all"}
			}
			return action(func(cmd *cobra.Command, _ []string) error {
				return withCatalog(cmd.Context(), func(store *catalog.Store) error {
					n, err := store.RevokeSessions(cmd.Context(), which, time.Now())
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%d session(s) ended\n", n)
					return nil
				})
			})(cmd, args)
		},
	}
	revoke.Flags().StringVar(&subject, "subject", "", "end every session of this subject")
	revoke.Flags().BoolVar(&all, "all", false, "end every session")
	cmd.AddCommand(list, revoke)
	return cmd
}
