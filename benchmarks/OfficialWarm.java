// The warm official engine (issue 16's peer): Saxon-HE on Java (s9api), the generated schematron XSLT
// compiled ONCE in one JVM, then applied to documents in steady state — the setup of a hosted
// validator. Used by benchmarks/bench_cda_official.py; not part of the harness.
//
// Usage: java -cp Saxon-HE.jar:. OfficialWarm JOBS ROUNDS [SVRL_OUT_DIR]
//   JOBS: one line per document: "<document path>\t<xsl path>\t<xsl path>..."
//   prints "load_ms <ms>", then per round and document "sheet <round> <index> <k> <ms>" per stylesheet
//   and "doc <round> <index> <ms>" (document parse included), then "vmhwm_kb <kb>";
//   with SVRL_OUT_DIR, the SVRL of the last round is written there (<index>_<k>.svrl) for comparison.
import net.sf.saxon.s9api.*;

import javax.xml.transform.stream.StreamSource;
import java.io.File;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class OfficialWarm {
  public static void main(String[] args) throws Exception {
    List<String> lines = Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8);
    int rounds = Integer.parseInt(args[1]);
    String outDir = args.length > 2 ? args[2] : null;
    long t0 = System.nanoTime();
    Processor proc = new Processor(false);
    XsltCompiler comp = proc.newXsltCompiler();
    DocumentBuilder builder = proc.newDocumentBuilder();
    Map<String, XsltExecutable> compiled = new HashMap<>();
    List<String> docs = new ArrayList<>();
    List<List<String>> sheets = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank()) continue;
      String[] parts = line.split("\t");
      docs.add(parts[0]);
      List<String> s = new ArrayList<>(Arrays.asList(parts).subList(1, parts.length));
      sheets.add(s);
      for (String x : s) {
        if (!compiled.containsKey(x)) compiled.put(x, comp.compile(new StreamSource(new File(x))));
      }
    }
    System.out.println("load_ms " + (System.nanoTime() - t0) / 1e6);
    for (int r = 0; r < rounds; r++) {
      for (int i = 0; i < docs.size(); i++) {
        long t = System.nanoTime();
        XdmNode doc = builder.build(new File(docs.get(i)));
        int k = 0;
        for (String x : sheets.get(i)) {
          long ts = System.nanoTime();
          Xslt30Transformer tr = compiled.get(x).load30();
          StringWriter sw = new StringWriter();
          Serializer ser = proc.newSerializer(sw);
          tr.transform(doc.asSource(), ser);
          if (outDir != null && r == rounds - 1) {
            Files.writeString(Path.of(outDir, i + "_" + k + ".svrl"), sw.toString(), StandardCharsets.UTF_8);
          }
          System.out.println("sheet " + r + " " + i + " " + k + " " + (System.nanoTime() - ts) / 1e6);
          k++;
        }
        System.out.println("doc " + r + " " + i + " " + (System.nanoTime() - t) / 1e6);
      }
    }
    for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (l.startsWith("VmHWM:")) System.out.println("vmhwm_kb " + l.replaceAll("[^0-9]", ""));
    }
  }
}
