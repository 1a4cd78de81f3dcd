using System;

public static class Program
{
    const string Version = "version 1";

    public static int Main(string[] args)
    {
        string line = Greeting.Greeter.For("tenant-b") + " (c#, " + Version + ")";
        if (args.Length > 0 && args[0] == "--self-test")
        {
            if (!line.StartsWith("hello from tenant-b")) { Console.Error.WriteLine("self-test failed: " + line); return 1; }
            Console.WriteLine("self-test passed");
            return 0;
        }
        Console.WriteLine(line);
        return 0;
    }
}
