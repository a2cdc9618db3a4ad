using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MimoSharp.Server.Engine;

namespace MimoSharp.Server.AI;

/// <summary>Registers the in-process engine and its <see cref="IChatClient"/> with dependency injection.</summary>
public static class MimoServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="MimoEngine"/> loaded from <paramref name="modelDirectory"/> on first use
    /// (disposed with the container) and an <see cref="IChatClient"/> over it; the returned builder adds
    /// middleware such as <c>UseFunctionInvocation()</c>.
    /// </summary>
    public static ChatClientBuilder AddMimoChatClient(this IServiceCollection services, string modelDirectory, EngineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        services.TryAddSingleton(_ => MimoEngine.Load(modelDirectory, options));
        return services.AddChatClient(sp => new MimoChatClient(sp.GetRequiredService<MimoEngine>()));
    }

    /// <summary>Adds an <see cref="IChatClient"/> over an engine the caller created (and disposes).</summary>
    public static ChatClientBuilder AddMimoChatClient(this IServiceCollection services, MimoEngine engine)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(engine);
        services.TryAddSingleton(engine);
        return services.AddChatClient(_ => new MimoChatClient(engine));
    }
}
