// The project's one dependency, in a local package source: nuget.org cannot be reached here, and Debian packages
// no .NET SDK (only Mono), so ci/restore.sh "restores" it by compiling it into .nuget/packages.
namespace Greeting
{
    public static class Greeter
    {
        public static string For(string who) { return "hello from " + who; }
    }
}
