<resource schema="esapuws" resdir=".">
  <meta name="title">ESAP test UWS</meta>
  <meta name="description">A user-defined UWS service for the tests of ESAP's uws plugin: it counts words.</meta>
  <meta name="creationDate">2024-06-01T00:00:00</meta>
  <meta name="subject">virtual-observatories</meta>
  <meta name="creator">ESAP</meta>

  <!-- A job lists the words of the text (its main result) and counts them (an extra result);
       "seconds" makes it run long enough to abort, "fail" makes it fail. -->
  <service id="words" allowed="async,uws.xml,form,api">
    <meta name="title">Word counter</meta>
    <pythonCore>
      <inputTable>
        <inputKey name="text" type="text" required="True" description="Text whose words are counted"/>
        <inputKey name="repeat" type="integer" description="How many copies of the text">
          <values default="1"/>
        </inputKey>
        <inputKey name="seconds" type="real" description="Seconds to work before answering">
          <values default="0"/>
        </inputKey>
        <inputKey name="fail" type="boolean" description="Fail on purpose">
          <values default="False"/>
        </inputKey>
        <inputKey name="case" type="text" description="Letter case of the words">
          <values default="lower"><option>lower</option><option>upper</option></values>
        </inputKey>
      </inputTable>
      <coreProc>
        <setup><code>import time</code></setup>
        <code>
          time.sleep(inputTable.getParam("seconds") or 0)
          if inputTable.getParam("fail"):
              raise ValueError("the job was asked to fail")
          words = ((inputTable.getParam("text") + " ") * inputTable.getParam("repeat")).split()
          # DaCHS hands an enumerated parameter over as a list of the values chosen
          words = [word.upper() if "upper" in inputTable.getParam("case") else word.lower() for word in words]
          with inputTable.job.getWritable() as wjob:
              wjob.addResult(str(len(words)) + "\n", "text/plain", "count.txt")
          return ("text/plain", ("\n".join(words) + "\n").encode())
        </code>
      </coreProc>
    </pythonCore>
  </service>
</resource>
