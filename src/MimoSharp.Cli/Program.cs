using System.CommandLine;
using MimoSharp.Cli.Commands;

var root = new RootCommand("mimo — MiMo-V2-Flash inference, training and serving in .NET");
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(LogitsCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ChatCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ConvertCommand.Create());
foreach (var command in TextCommands.Create()) root.Subcommands.Add(command);
foreach (var command in TrainCommands.Create()) root.Subcommands.Add(command);
root.Subcommands.Add(DistillCommands.Create());
return root.Parse(args).Invoke();
