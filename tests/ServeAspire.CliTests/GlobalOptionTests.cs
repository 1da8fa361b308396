using System.Net;
using System.Net.Sockets;

namespace ServeAspire.CliTests;

/// <summary>Address, output, token discovery, exit codes and the errors a user sees.</summary>
public sealed class GlobalOptionTests
{
    private readonly CliHarness _cli = new();

    [Fact]
    public async Task Address_DefaultsTo8265_ThenServeAddress_ThenTheOption()
    {
        // The address shows in the error: the fake refuses every call.
        _cli.Controller.Throw = new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused));
        _cli.Environment.Remove("SERVE_ADDRESS");
        Assert.Contains("could not reach the controller at http://127.0.0.1:8265: ", (await _cli.RunAsync("status")).Error);
        _cli.Environment["SERVE_ADDRESS"] = "http://10.0.0.1:9000/";
        Assert.Contains("could not reach the controller at http://10.0.0.1:9000: ", (await _cli.RunAsync("status")).Error);
        Assert.Contains("could not reach the controller at http://10.0.0.2:9001: ", (await _cli.RunAsync("status", "-a", "http://10.0.0.2:9001")).Error);
    }

    [Fact]
    public async Task Unreachable_Exit1_WithTheReason()
    {
        _cli.Controller.Throw = new HttpRequestException("Connection refused (127.0.0.1:8265)", new SocketException((int)SocketError.ConnectionRefused));
        var r = await _cli.RunAsync("list", "nodes");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("serve: error: could not reach the controller at http://127.0.0.1:8265: ", r.Error);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public async Task NoAnswerInTime_Exit1()
    {
        _cli.Controller.Throw = new TaskCanceledException("timeout");
        var r = await _cli.RunAsync("status");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("could not reach the controller at http://127.0.0.1:8265: no answer within 2 s", r.Error);
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "401")]
    [InlineData(HttpStatusCode.Forbidden, "403")]
    public async Task RefusedToken_Exit1_NamesWhereTheTokenCameFrom_NeverTheToken(HttpStatusCode status, string code)
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", status, """{"error":"missing or invalid token"}""");
        var r = await _cli.RunAsync("status");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"the controller refused the token ({code}): set SERVE_AUTH_TOKEN or SERVE_AUTH_TOKEN_PATH", r.Error);
        Assert.Contains("came from SERVE_AUTH_TOKEN", r.Error);
        Assert.DoesNotContain(CliHarness.Token, r.All);
    }

    [Fact]
    public async Task Token_FromStateFolderInTheRepositoryRoot_WhenNoVariableIsSet()
    {
        var root = Directory.CreateTempSubdirectory("serve-cli-");
        try
        {
            File.WriteAllText(Path.Combine(root.FullName, "ServeAspire.sln"), "");
            Directory.CreateDirectory(Path.Combine(root.FullName, ".state"));
            File.WriteAllText(Path.Combine(root.FullName, ".state", "auth_token"), "from-the-state-folder-0123456789\n");
            var sub = Directory.CreateDirectory(Path.Combine(root.FullName, "samples", "deep"));
            _cli.Environment.Clear();
            _cli.WorkingDirectory = sub.FullName;
            _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.Forbidden, "");
            var r = await _cli.RunAsync("status");
            Assert.Equal("Bearer from-the-state-folder-0123456789", _cli.Controller.Requests[0].Authorization);
            Assert.Contains($"came from {Path.Combine(root.FullName, ".state", "auth_token")}", r.Error);
            Assert.DoesNotContain("from-the-state-folder-0123456789", r.All);
        }
        finally { root.Delete(recursive: true); }
    }

    [Fact]
    public async Task Token_FromServeAuthTokenPath()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "from-the-path-variable-0123456789");
            _cli.Environment.Clear();
            _cli.Environment["SERVE_AUTH_TOKEN_PATH"] = file;
            _cli.Controller.Answer(HttpMethod.Get, "/api/nodes", HttpStatusCode.OK, """{"total":0,"nodes":[]}""");
            var r = await _cli.RunAsync("list", "nodes");
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("Bearer from-the-path-variable-0123456789", _cli.Controller.Requests[0].Authorization);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task NoToken_SendsNone_AndOn401SaysWhereItLooked()
    {
        _cli.Environment.Clear();
        _cli.WorkingDirectory = Directory.CreateTempSubdirectory("serve-cli-").FullName;
        _cli.Controller.Answer(HttpMethod.Get, "/api/serve/applications/", HttpStatusCode.Unauthorized, "");
        var r = await _cli.RunAsync("status");
        Assert.Equal(1, r.ExitCode);
        Assert.Null(_cli.Controller.Requests[0].Authorization);
        Assert.Contains($"no token found (tried SERVE_AUTH_TOKEN, {Path.Combine(_cli.WorkingDirectory, ".state", "auth_token")})", r.Error);
        Directory.Delete(_cli.WorkingDirectory, recursive: true);
    }

    [Fact]
    public async Task ServerError_Exit1_WithTheControllersError()
    {
        _cli.Controller.Answer(HttpMethod.Get, "/api/nodes", HttpStatusCode.ServiceUnavailable, """{"error":"the store is unreachable: timeout"}""");
        var r = await _cli.RunAsync("list", "nodes");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("answered 503 ServiceUnavailable: the store is unreachable: timeout", r.Error);
    }

    [Theory]
    [InlineData("status", "--output", "xml")]
    [InlineData("status", "--address", "localhost:8265")]
    [InlineData("status", "--no-such-option")]
    [InlineData("bogus")]
    [InlineData("list", "bogus")]
    [InlineData("deploy")]
    public async Task UsageErrors_Exit2_WithoutCallingTheController(params string[] args)
    {
        var r = await _cli.RunAsync(args);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("serve: error: ", r.Error);
        Assert.Empty(_cli.Controller.Requests);
    }

    [Fact]
    public async Task BadServeAddress_IsAUsageError()
    {
        _cli.Environment["SERVE_ADDRESS"] = "8265";
        var r = await _cli.RunAsync("status");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("SERVE_ADDRESS must be an http:// or https:// URL", r.Error);
    }

    [Fact]
    public async Task Help_Exit0_ListsTheCommands()
    {
        var r = await _cli.RunAsync("--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var command in new[] { "deploy", "status", "config", "shutdown", "list", "summary" })
            Assert.Contains(command, r.Out);
    }
}
