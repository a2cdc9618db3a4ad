using MimoSharp.Server.Engine;

namespace MimoSharp.Server.Tests.Support;

/// <summary>One server over the tiny test model, shared by a test class (8 running slots, a queue behind).</summary>
public sealed class TinyServerFixture : IAsyncLifetime
{
    public ServerHost Server { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Server = await ServerHost.StartAsync(new EngineOptions { ModelId = "tiny", MaxRunningSequences = 8, MaxQueuedRequests = 64 });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
