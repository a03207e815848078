Console.WriteLine("actorcluster");
