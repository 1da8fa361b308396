using System.Net;
using System.Text;
using ServeAspire.Cli;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace ServeAspire.CliTests;

/// <summary>Runs the CLI in-process: captured stdout/stderr, a given environment, a fake controller.</summary>
internal sealed class CliHarness
{
    public const string Token = "test-token-0123456789-abcdef";

    public Dictionary<string, string> Environment { get; } = new() { ["SERVE_AUTH_TOKEN"] = Token };
    public FakeController Controller { get; } = new();
    public string WorkingDirectory { get; set; } = Path.GetTempPath();
    /// <summary>Keys the console reads (a confirmation's answer); null: the console is not interactive.</summary>
    public string? Input { get; set; }

    public async Task<Result> RunAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var context = new CliContext(Console(stdout, Input), Console(stderr, null),
            name => Environment.GetValueOrDefault(name), WorkingDirectory, () => Controller)
        { Timeout = TimeSpan.FromSeconds(2) };
        var code = await ServeCli.RunAsync(args, context);
        return new Result(code, stdout.ToString(), stderr.ToString());
    }

    private static IAnsiConsole Console(StringWriter writer, string? input)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = input is null ? InteractionSupport.No : InteractionSupport.Yes,
        });
        console.Profile.Width = 200;
        return input is null ? console : new ScriptedConsole(console, new ScriptedInput(input));
    }

    public sealed record Result(int ExitCode, string Out, string Error)
    {
        public string All => Out + Error;
    }

    private sealed class ScriptedConsole(IAnsiConsole inner, IAnsiConsoleInput input) : IAnsiConsole
    {
        public Profile Profile => inner.Profile;
        public IAnsiConsoleCursor Cursor => inner.Cursor;
        public IAnsiConsoleInput Input => input;
        public IExclusivityMode ExclusivityMode => inner.ExclusivityMode;
        public RenderPipeline Pipeline => inner.Pipeline;
        public void Clear(bool home) => inner.Clear(home);
        public void Write(IRenderable renderable) => inner.Write(renderable);
        public void WriteAnsi(Action<AnsiWriter> action) => inner.WriteAnsi(action);
    }

    private sealed class ScriptedInput(string keys) : IAnsiConsoleInput
    {
        private readonly Queue<char> _keys = new(keys + "\r");
        public bool IsKeyAvailable() => _keys.Count > 0;
        public ConsoleKeyInfo? ReadKey(bool intercept)
        {
            var c = _keys.Dequeue();
            return new ConsoleKeyInfo(c, c == '\r' ? ConsoleKey.Enter : ConsoleKey.A, false, false, false);
        }
        public Task<ConsoleKeyInfo?> ReadKeyAsync(bool intercept, CancellationToken cancellationToken) => Task.FromResult(ReadKey(intercept));
    }
}

/// <summary>A controller that answers canned responses by method and path, and records what it was sent.</summary>
internal sealed class FakeController : HttpMessageHandler
{
    private readonly Dictionary<string, (HttpStatusCode Status, string Body)> _answers = new();
    public List<(HttpMethod Method, string PathAndQuery, string? Authorization, string? Body, string? ContentType)> Requests { get; } = [];
    public Exception? Throw { get; set; }

    public FakeController Answer(HttpMethod method, string pathAndQuery, HttpStatusCode status, string body)
    {
        _answers[$"{method} {pathAndQuery}"] = (status, body);
        return this;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        Requests.Add((request.Method, request.RequestUri!.PathAndQuery, request.Headers.Authorization?.ToString(), body, request.Content?.Headers.ContentType?.MediaType));
        if (Throw is not null) throw Throw;
        var (status, text) = _answers.TryGetValue($"{request.Method} {request.RequestUri.PathAndQuery}", out var a) ? a : (HttpStatusCode.NotFound, "");
        return new HttpResponseMessage(status) { Content = new StringContent(text, Encoding.UTF8, "application/json") };
    }

    // The CLI disposes its HttpClient (and so this handler) after each run: keep the canned answers.
    protected override void Dispose(bool disposing) { }
}
