/* commands.h — the subcommands of the trit command; each returns the process exit code. */
#ifndef TRIT_TOOLS_COMMANDS_H
#define TRIT_TOOLS_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
